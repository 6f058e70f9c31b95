// `npm run passwd`: reads a password or PIN from stdin and prints its scrypt hash, for
// auth.engineerPasswordHash or auth.operatorPinHash in the configuration. The secret is never
// echoed back or written anywhere; only the hash is printed.
import { hashSecret } from './passwords.js';

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('Type the password or PIN, then Enter (it is shown as you type; pipe it in to avoid that):\n');
  let text = '';
  for await (const chunk of process.stdin) {
    text += String(chunk);
    if (process.stdin.isTTY && text.includes('\n')) break;
  }
  return text.replace(/\r?\n$/, '').split(/\r?\n/)[0] ?? '';
}

async function main(): Promise<void> {
  const secret = await readStdin();
  if (secret.length === 0) {
    process.stderr.write('passwd: nothing read from stdin; example: printf %s "$PASSWORD" | npm run --silent passwd\n');
    process.exit(2);
  }
  process.stdout.write(`${await hashSecret(secret)}\n`);
}

void main();
