/**
 * The gateway process: the only file that listens. Fails fast on bad configuration (naming
 * the key), serves HTTPS when a certificate is configured, and shuts down gracefully on
 * SIGINT/SIGTERM (stop accepting, finish in-flight requests, close clients).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import closeWithGrace from 'close-with-grace';
import { ConfigError } from '../../contracts/config.js';
import { buildApp } from './app.js';
import { createClients } from './clients.js';
import { loadGatewayConfig } from './config.js';
import { DatabaseLockedError } from './db/client.js';
import { createLogger } from './logger.js';

async function main(): Promise<void> {
  let config: ReturnType<typeof loadGatewayConfig>;
  try {
    config = loadGatewayConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw err;
  }
  const logger = createLogger(config.RADLINK_LOG_LEVEL, config.RADLINK_LOG_FILE);
  let clients: Awaited<ReturnType<typeof createClients>>;
  try {
    clients = await createClients(config);
  } catch (err) {
    const reason =
      err instanceof DatabaseLockedError
        ? err.message
        : `cannot open the database: ${(err as Error).message}`;
    logger.fatal(reason);
    process.exit(1);
  }
  await clients.s3
    .ensureBucket()
    .catch((err) => logger.warn({ err: (err as Error).message }, 'S3 bucket check failed'));

  const https =
    config.RADLINK_TLS_CERT && config.RADLINK_TLS_KEY
      ? { cert: readFileSync(config.RADLINK_TLS_CERT), key: readFileSync(config.RADLINK_TLS_KEY) }
      : null;
  const app = await buildApp({ config, ...clients, logger, ...(https ? { https } : {}) });

  closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'shutting down after an error');
    else app.log.info({ signal }, 'shutting down');
    await app.close();
    await clients.close();
  });

  await app.listen({ host: config.RADLINK_HOST, port: config.RADLINK_PORT });
  app.log.info(
    {
      url: `${https ? 'https' : 'http'}://${config.RADLINK_HOST}:${config.RADLINK_PORT}`,
      data: join(config.RADLINK_DATA),
    },
    'RadLink gateway ready',
  );
}

await main();
