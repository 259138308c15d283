import { describe, expect, it } from 'vitest';
import {
  addressesFor,
  answeringBackend,
  buildUpstreamInclude,
  triedBackends,
  upstreamServerOf,
} from '../../../src/adapters/swag/upstream.js';

const servers = { master: '192.168.1.10:8096', slave: '192.168.1.11:8096' };

describe('upstreamServerOf', () => {
  it('takes host:port from a Jellyfin base URL, with the scheme default when the URL has no port', () => {
    expect(upstreamServerOf('http://192.168.1.10:8096', 'MASTER_URL')).toBe('192.168.1.10:8096');
    expect(upstreamServerOf('http://jellyfin-master.lan', 'MASTER_URL')).toBe('jellyfin-master.lan:80');
    expect(upstreamServerOf('https://jellyfin_slave:8920/jf', 'SLAVE_URL')).toBe('jellyfin_slave:8920');
    expect(upstreamServerOf('http://[fd00::10]:8096', 'MASTER_URL')).toBe('[fd00::10]:8096');
  });

  it('refuses a host that nginx would read as syntax, naming the variable', () => {
    expect(() => upstreamServerOf('http://a;b:8096', 'SLAVE_URL')).toThrow(/SLAVE_URL=http:\/\/a;b:8096/);
    expect(() => upstreamServerOf('not a url', 'MASTER_URL')).toThrow(/MASTER_URL/);
  });
});

describe('buildUpstreamInclude', () => {
  it('puts the primary first and marks the standby backup, both with passive health settings', () => {
    expect(buildUpstreamInclude({ primary: 'slave', standby: 'master', servers })).toBe(
      [
        '# Written by jellyfin-failover on every traffic switch: do not edit, changes are overwritten.',
        '# primary: slave, standby: master (nginx uses the backup only while the primary fails)',
        'upstream jellyfin_failover {',
        '    server 192.168.1.11:8096 max_fails=3 fail_timeout=30s;',
        '    server 192.168.1.10:8096 backup max_fails=3 fail_timeout=30s;',
        '}',
        '',
      ].join('\n'),
    );
  });

  it('gives the same bytes for the same routing, and uses the given health settings', () => {
    const a = buildUpstreamInclude({
      primary: 'master',
      standby: 'slave',
      servers,
      health: { maxFails: 1, failTimeoutS: 5 },
    });
    expect(a).toBe(
      buildUpstreamInclude({
        primary: 'master',
        standby: 'slave',
        servers,
        health: { maxFails: 1, failTimeoutS: 5 },
      }),
    );
    expect(a).toContain('    server 192.168.1.10:8096 max_fails=1 fail_timeout=5s;\n');
    expect(a).toContain('    server 192.168.1.11:8096 backup max_fails=1 fail_timeout=5s;\n');
  });

  it('refuses routings nginx could not serve or the proxy check could not tell apart', () => {
    expect(() => buildUpstreamInclude({ primary: 'master', standby: 'master', servers })).toThrow(
      /both master/,
    );
    expect(() =>
      buildUpstreamInclude({
        primary: 'master',
        standby: 'slave',
        servers: { master: '10.0.0.1:8096', slave: '10.0.0.1:8096' },
      }),
    ).toThrow(/MASTER_URL and SLAVE_URL/);
    expect(() =>
      buildUpstreamInclude({
        primary: 'master',
        standby: 'slave',
        servers: { master: '10.0.0.1:8096; include /etc/passwd', slave: '10.0.0.2:8096' },
      }),
    ).toThrow(/not a host:port/);
    expect(() =>
      buildUpstreamInclude({
        primary: 'master',
        standby: 'slave',
        servers,
        health: { maxFails: 0, failTimeoutS: 30 },
      }),
    ).toThrow(/max_fails/);
  });
});

describe('answeringBackend', () => {
  it('is the last server nginx tried, the one that gave the response', () => {
    expect(answeringBackend('127.0.0.1:8096')).toBe('127.0.0.1:8096');
    expect(answeringBackend('127.0.0.1:8096, 127.0.0.1:8097')).toBe('127.0.0.1:8097');
    expect(answeringBackend('127.0.0.1:8096, 127.0.0.1:8097 : [::1]:8098')).toBe('[::1]:8098');
  });

  it('is null without a header', () => {
    expect(answeringBackend(null)).toBeNull();
    expect(answeringBackend('')).toBeNull();
  });
});

describe('triedBackends', () => {
  it('lists the servers in the order nginx tried them: the first is where it routes', () => {
    expect(triedBackends('127.0.0.1:8096, 127.0.0.1:8097')).toEqual(['127.0.0.1:8096', '127.0.0.1:8097']);
    expect(triedBackends('127.0.0.1:8096')).toEqual(['127.0.0.1:8096']);
    expect(triedBackends(null)).toEqual([]);
  });
});

describe('addressesFor', () => {
  it('accepts the configured host:port and each resolved IP with its port', () => {
    expect([...addressesFor('jellyfin.lan:8096', ['192.168.1.10', 'fd00::10'])]).toEqual([
      'jellyfin.lan:8096',
      '192.168.1.10:8096',
      '[fd00::10]:8096',
    ]);
    expect([...addressesFor('[::1]:8096', [])]).toEqual(['[::1]:8096']);
  });
});
