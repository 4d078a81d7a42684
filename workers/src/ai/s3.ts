/** An S3 client from the S3_* configuration keys (the sandboxed stage builds its own). */
import { Client } from 'minio';

export function s3Client(cfg: {
  S3_ENDPOINT: string;
  S3_REGION: string;
  S3_ACCESS_KEY: string;
  S3_SECRET_KEY: string;
}): Client {
  const u = new URL(cfg.S3_ENDPOINT);
  return new Client({
    endPoint: u.hostname,
    port: u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80,
    useSSL: u.protocol === 'https:',
    accessKey: cfg.S3_ACCESS_KEY,
    secretKey: cfg.S3_SECRET_KEY,
    region: cfg.S3_REGION,
    pathStyle: true,
  });
}
