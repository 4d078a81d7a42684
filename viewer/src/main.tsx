/** Entry point: translations first (synchronous), then the application shell. */
import { render } from 'preact';
import './app/styles.css';
import { App } from './app/App.js';
import { i18n } from './i18n/index.js';

document.documentElement.lang = i18n.language;
// An inline icon: otherwise every page load asks the gateway for a /favicon.ico it does not have.
if (!document.querySelector('link[rel="icon"]')) {
  const icon = document.createElement('link');
  icon.rel = 'icon';
  icon.href =
    "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Crect width='16' height='16' rx='3' fill='%235fb3ff'/%3E%3Ctext x='8' y='12' font-size='10' text-anchor='middle' font-family='sans-serif' fill='%2306121e'%3ER%3C/text%3E%3C/svg%3E";
  document.head.append(icon);
}
const root = document.getElementById('app');
if (root) render(<App />, root);
