/** Entry point: mounts the application shell. */
import { render } from 'preact';

function App() {
  return <h1>RadLink</h1>;
}

const root = document.getElementById('app');
if (root) render(<App />, root);
