import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  destinationCommand,
  RELAY_HOST,
  RelayHeader,
  relaySourceArgv,
} from '../../../src/adapters/rsync/relay.js';

async function through(chunks: Buffer[]): Promise<{ argv: string[]; rest: Buffer }> {
  const header = new RelayHeader();
  const out: Buffer[] = [];
  header.on('data', (c: Buffer) => out.push(c));
  const done = new Promise((r) => header.on('end', r));
  Readable.from(chunks).pipe(header);
  const argv = await header.header();
  await done;
  return { argv, rest: Buffer.concat(out) };
}

describe('the relay header', () => {
  const header = Buffer.concat([
    Buffer.from('JFRELAY 4\n'),
    Buffer.from('jf-relay\0rsync\0--server\0-slogDtpre.iLsfxCIvu\0'),
  ]);
  const protocol = Buffer.from([0x1f, 0, 0, 0, 0xff, 0x00, 0x0a]);

  it('splits the arguments off and passes the protocol bytes on untouched, whatever the chunking', async () => {
    const whole = Buffer.concat([header, protocol]);
    for (const size of [1, 3, 7, whole.length]) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < whole.length; i += size) chunks.push(whole.subarray(i, i + size));
      const { argv, rest } = await through(chunks);
      expect(argv).toEqual(['jf-relay', 'rsync', '--server', '-slogDtpre.iLsfxCIvu']);
      expect(rest).toEqual(protocol);
    }
  });

  it('refuses anything that is not the relay speaking', async () => {
    const h = new RelayHeader();
    h.on('error', () => undefined);
    const got = h.header().catch((e: unknown) => e);
    h.write(Buffer.from('SSH-2.0-OpenSSH\n'));
    expect(String(await got)).toMatch(/the relay on the source sent/);
  });
});

describe('what the relay runs', () => {
  it('runs only a receiving rsync --server on the destination', () => {
    expect(destinationCommand(['jf-relay', 'rsync', '--server', '-logDtpre.iLsfxC', '.', '/x/'])).toEqual([
      'rsync',
      '--server',
      '-logDtpre.iLsfxC',
      '.',
      '/x/',
    ]);
    expect(() => destinationCommand(['jf-relay', 'rsync', '--server', '--sender', '.', '/x/'])).toThrow(
      /not a receiving/,
    );
    expect(() => destinationCommand(['jf-relay', 'rm', '-rf', '/'])).toThrow(/not a receiving/);
  });

  it('gives rsync the relay as its remote shell and the placeholder host, paths last', () => {
    const argv = relaySourceArgv(['rsync', '-aAXH', '--delete'], '/srv/a b/', '/srv/c/');
    expect(argv.slice(0, 2)).toEqual(['env', expect.stringMatching(/^JF_RELAY=printf 'JFRELAY %d/)]);
    expect(argv.slice(-4)).toEqual([
      '-e',
      `sh -c 'eval "$JF_RELAY"' relay`,
      '/srv/a b/',
      `${RELAY_HOST}:/srv/c/`,
    ]);
    expect(argv).toContain('--delete');
  });
});
