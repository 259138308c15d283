/**
 * docs/tests.md, the users' pre-production checklist, run as written: its commands are read out of the document and
 * run in its order against two bench sites in the recommended topology (the service on slave, master over SSH),
 * with the real CLI (`src/main.ts` through tsx, configured by an env file) and the real service (`run`) watching
 * from the background, as in production. Each documented result (exit code, output excerpt) is checked, so the
 * checklist cannot drift from what the product does.
 *
 * The document is written for the example setup of docs/install-unraid.md (config in /mnt/cache/appdata/jellyfin on
 * both sites, containers named `jellyfin`, master 192.168.1.10, slave 192.168.1.11); the test puts the bench's
 * paths, container names and URLs in their place in each command, and the example values back in the output
 * before comparing, so the excerpts stay as a user sees them. Both bench sites share this machine's filesystem
 * and dockerd, so a command "on master" or "on slave" runs here, with that site's values.
 *
 * Steps done in a browser (`<!-- bench: ... -->`) are done through Jellyfin's HTTP API as the web client does it,
 * against the bench's Jellyfin stand-in (Jellyfin itself cannot run here). Steps that need Home Assistant and a
 * phone are marked "not on the bench" in the document; the test checks that they are, and checks the event the
 * phone would show.
 */

import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { DEFAULT_BANNER } from '../../src/config/schema.js';
import type { FailoverEvent } from '../../src/domain/events.js';
import { killCliProcesses, spawnCli } from '../bench/faults.js';
import { clientAsUser, type UserItemData } from '../bench/jellyfin-client.js';
import { sitesPerTest, type TwoSites, writeEnvFile } from '../bench/sites.js';
import {
  benchTopics,
  MqttProbe,
  type ServiceProcess,
  serviceEnv,
  spawnServiceProcess,
} from '../support/mqtt-probe.js';

const DOC = 'docs/tests.md';

type SiteName = 'master' | 'slave';

interface Command {
  /** The command as written, without its trailing comment. */
  text: string;
  site: SiteName | null;
  exit: number;
  /** Repeat until the excerpt shows, for at most this long. */
  withinS: number | null;
  /** Lines of output it must print (each an excerpt, spacing aside). */
  expect: string[];
}

type Step =
  | { kind: 'commands'; commands: Command[] }
  | { kind: 'browser'; action: string }
  | { kind: 'off-bench'; why: string; event: string | null; text: string };

interface Item {
  title: string;
  /** The item's text, commands and prose. */
  text: string;
  steps: Step[];
}

/** The marker comments of the document and what follows each. */
const MARKER = /^<!--\s*(bench|not on the bench)(?::\s*(.*?))?\s*-->$/;

/** Reads the checklist: its items, their command blocks and markers. Throws naming what is malformed. */
function parseChecklist(text: string): { items: Item[]; unmarkedBlocks: string[]; offBench: Step[] } {
  const lines = text.split('\n');
  const items: Item[] = [];
  const unmarkedBlocks: string[] = [];
  const offBench: Step[] = [];
  let item: Item | null = null;
  let pending: { kind: 'bench' | 'not on the bench'; detail: string } | null = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (line.startsWith('### ')) {
      item = { title: line.slice(4).trim(), text: '', steps: [] };
      items.push(item);
      continue;
    }
    if (item && !line.startsWith('## ')) item.text += `${line}\n`;
    if (line.startsWith('## ')) item = null;
    const marker = MARKER.exec(line.trim());
    if (marker) {
      const kind = marker[1] as 'bench' | 'not on the bench';
      const detail = (marker[2] ?? '').trim();
      if (kind === 'bench' && detail !== '') {
        // a browser step: no block follows
        if (!item) throw new Error(`${DOC}:${i + 1}: a bench step outside a checklist item`);
        item.steps.push({ kind: 'browser', action: detail });
        continue;
      }
      pending = { kind, detail };
      continue;
    }
    const fence = /^```(\w*)$/.exec(line.trim());
    if (!fence) continue;
    const body: string[] = [];
    for (i++; i < lines.length && (lines[i] ?? '').trim() !== '```'; i++) body.push(lines[i] ?? '');
    if (!pending) {
      unmarkedBlocks.push(`${DOC}:${i + 1 - body.length}: ${body[0] ?? ''}`);
      continue;
    }
    if (pending.kind === 'not on the bench') {
      const step: Step = {
        kind: 'off-bench',
        why: pending.detail.replace(/\s*\(event: \w+\)$/, ''),
        event: /\(event: (\w+)\)$/.exec(pending.detail)?.[1] ?? null,
        text: body.join('\n'),
      };
      offBench.push(step);
      item?.steps.push(step);
    } else {
      if (!item) throw new Error(`${DOC}:${i + 1}: a bench block outside a checklist item`);
      if (fence[1] !== 'sh') throw new Error(`${DOC}:${i + 1}: a bench block must be \`\`\`sh`);
      item.steps.push({ kind: 'commands', commands: parseCommands(body, i + 1 - body.length) });
    }
    pending = null;
  }
  return { items, unmarkedBlocks, offBench };
}

function parseCommands(body: string[], firstLine: number): Command[] {
  const commands: Command[] = [];
  body.forEach((raw, n) => {
    const line = raw.trim();
    if (line === '') return;
    if (!line.startsWith('$ ')) {
      const last = commands.at(-1);
      if (!last) throw new Error(`${DOC}:${firstLine + n}: output before any command: ${line}`);
      last.expect.push(line);
      return;
    }
    const comment = /\s+#\s+(.*)$/.exec(line);
    const note = comment?.[1] ?? '';
    const text = (comment ? line.slice(0, comment.index) : line).slice(2).trim();
    const site = /\bon (master|slave)\b/.exec(note)?.[1] as SiteName | undefined;
    const exit = /\bexit (\d+)\b/.exec(note)?.[1];
    const within = /\bwithin (\d+) s\b/.exec(note)?.[1];
    commands.push({
      text,
      site: site ?? null,
      exit: exit === undefined ? 0 : Number(exit),
      withinS: within === undefined ? null : Number(within),
      expect: [],
    });
  });
  return commands;
}

/** Words of a command line, with '…' and "…" quoting (no expansion: the commands here need none). */
function words(line: string): string[] {
  const out: string[] = [];
  const re = /'([^']*)'|"([^"]*)"|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) out.push(m[1] ?? m[2] ?? m[3] ?? '');
  return out;
}

const squash = (s: string) => s.replace(/\s+/g, ' ').trim();

/** The example setup's values, as the document writes them. */
const EXAMPLE = {
  configDir: '/mnt/cache/appdata/jellyfin',
  appdata: '/mnt/cache/appdata',
  container: 'jellyfin',
  urls: { master: 'http://192.168.1.10:8096', slave: 'http://192.168.1.11:8096' },
} as const;

/** The example's value for a site replaced by the bench's, in a command or a variable's value. */
function toBench(sites: TwoSites, site: SiteName, text: string): string {
  return text
    .replaceAll(EXAMPLE.configDir, sites.dirs[site])
    .replaceAll(`${EXAMPLE.appdata}/`, `${dirname(sites.dirs[site])}/`)
    .replaceAll(EXAMPLE.urls.master, sites.urls.master)
    .replaceAll(EXAMPLE.urls.slave, sites.urls.slave);
}

/** The bench's values in output replaced by the example's, as the document shows them. */
function toDoc(sites: TwoSites, text: string): string {
  let out = text;
  for (const site of ['master', 'slave'] as const) {
    out = out
      .replaceAll(sites.dirs[site], EXAMPLE.configDir)
      .replaceAll(dirname(sites.dirs[site]), EXAMPLE.appdata)
      .replaceAll(sites.containers[site], EXAMPLE.container)
      .replaceAll(sites.urls[site], EXAMPLE.urls[site]);
  }
  return out;
}

interface Ran {
  code: number | null;
  output: string;
}

/** The checklist's runner on one pair of bench sites. */
class ChecklistRunner {
  private envFiles = 0;

  constructor(
    private readonly sites: TwoSites,
    private readonly envFile: string,
    private readonly dockerSocket: string,
  ) {}

  /** Runs one documented command once, the way the document means it. */
  async runOnce(command: Command): Promise<Ran> {
    const argv = words(command.text);
    if (argv[0] === 'jellyfin-failover') return this.cli(argv.slice(1), {});
    if (argv[0] === 'docker' && argv[1] === 'exec') return this.dockerExecCli(argv.slice(2), command);
    if (command.site === null) {
      throw new Error(`${DOC}: "${command.text}" does not say where it runs (# on master / # on slave)`);
    }
    const site = command.site;
    const line =
      argv[0] === 'docker'
        ? argv
            .map((w, i) => (i > 0 && w === EXAMPLE.container ? this.sites.containers[site] : w))
            .map((w) => (/\s|[{}$]/.test(w) ? `'${w}'` : w))
            .join(' ')
        : command.text;
    const r = await execa('sh', ['-c', toBench(this.sites, site, line)], {
      reject: false,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? '/root',
        DOCKER_HOST: `unix://${this.dockerSocket}`,
      },
      extendEnv: false,
      all: true,
    });
    return { code: r.exitCode ?? null, output: toDoc(this.sites, r.all ?? '') };
  }

  /** `docker exec [-i] [-t] [-e NAME=VALUE]... <service container> jellyfin-failover <args>`: the CLI with those variables. */
  private dockerExecCli(rest: string[], command: Command): Promise<Ran> {
    const env: Record<string, string> = {};
    let i = 0;
    for (; i < rest.length && (rest[i] ?? '').startsWith('-'); i++) {
      const flag = rest[i];
      if (flag === '-e') {
        const [name = '', ...value] = (rest[++i] ?? '').split('=');
        const site: SiteName = name.startsWith('SLAVE_') ? 'slave' : 'master';
        env[name] = toBench(this.sites, site, value.join('='));
      } else if (!['-i', '-t', '-it'].includes(flag ?? '')) {
        throw new Error(`${DOC}: "${command.text}": the test does not know docker exec ${flag}`);
      }
    }
    const [container, program, ...args] = rest.slice(i);
    if (container !== 'jellyfin-failover' || program !== 'jellyfin-failover') {
      throw new Error(`${DOC}: "${command.text}" is not the service's command line in its container`);
    }
    return this.cli(args, env);
  }

  /** The real CLI with the bench's env file (variables set for this command: a copy of it with them). */
  private async cli(args: string[], env: Record<string, string>): Promise<Ran> {
    const file =
      Object.keys(env).length === 0
        ? this.envFile
        : await writeEnvFile(this.sites, `checklist-${++this.envFiles}.env`, env);
    const r = await spawnCli([...args, '--env-file', file]).done;
    return { code: r.code, output: toDoc(this.sites, `${r.stdout}\n${r.stderr}`) };
  }

  /** Runs a command until its documented result shows (once, unless it says `within N s`); asserts it. */
  async run(command: Command): Promise<void> {
    const deadline = Date.now() + (command.withinS ?? 0) * 1000;
    for (;;) {
      const r = await this.runOnce(command);
      const missing = command.expect.filter((e) => !squash(r.output).includes(squash(e)));
      if ((r.code === command.exit && missing.length === 0) || Date.now() >= deadline) {
        expect({ command: command.text, exit: r.code, missing }, r.output).toEqual({
          command: command.text,
          exit: command.exit,
          missing: [],
        });
        return;
      }
      await sleep(1_000);
    }
  }
}

const checklist = parseChecklist(readFileSync(DOC, 'utf8'));

/** The browser steps the test knows how to do, by the words of their marker. */
type BrowserAction = (sites: TwoSites, memory: Map<string, UserItemData>) => Promise<void>;
const BROWSER: Record<string, BrowserAction> = {
  // GET /Branding/Configuration is what the login page shows under the form.
  "slave's login page shows the banner": async (sites) => {
    const res = await fetch(`${sites.urls.slave}/Branding/Configuration`);
    const branding = (await res.json()) as { LoginDisclaimer?: string };
    expect(branding.LoginDisclaimer).toBe(DEFAULT_BANNER);
    const master = (await (await fetch(`${sites.urls.master}/Branding/Configuration`)).json()) as {
      LoginDisclaimer?: string;
    };
    expect(master.LoginDisclaimer ?? '').not.toContain(DEFAULT_BANNER);
  },
  // Playing and stopping is what the web client reports: start, progress every ~10 s, stop.
  'a user watches a film on slave': async (sites, memory) => {
    const user = clientAsUser(sites.urls.slave, sites.tree);
    const film = sites.tree.items[0]?.id ?? '';
    const before = await user.userData(film);
    await user.playbackStart(film);
    await user.playbackProgress(film, 27_000_000_000);
    await user.playbackStop(film, 27_000_000_000);
    const after = await user.userData(film);
    expect(after).not.toEqual(before);
    memory.set('watched on slave', after);
  },
  'the film resumes on master where it stopped on slave': async (sites, memory) => {
    const watched = memory.get('watched on slave');
    expect(watched, 'the user watched on slave first').toBeDefined();
    const film = sites.tree.items[0]?.id ?? '';
    const onMaster = await clientAsUser(sites.urls.master, sites.tree).userData(film);
    expect(onMaster).toEqual(watched);
  },
};

describe('docs/tests.md, the pre-production checklist', () => {
  it('covers what a user must try before production, each step marked for the bench or not', () => {
    expect(checklist.unmarkedBlocks, 'every command block says whether the test runs it').toEqual([]);
    const titles = checklist.items.map((i) => i.title);
    const wanted = [
      /check/,
      /first sync/i,
      /routine sync/i,
      /container stops.*phone/i,
      /promote/i,
      /users on slave/i,
      /fail back.*watch history/i,
      /roll back/i,
      /refused sync.*not mounted/i,
      /snapshot by hand/i,
    ];
    expect(titles).toHaveLength(wanted.length);
    wanted.forEach((re, n) => {
      expect(titles[n], `item ${n + 1}`).toMatch(re);
    });
    for (const item of checklist.items) expect(item.steps.length, item.title).toBeGreaterThan(0);
    // What the bench cannot do is said, with why; the phone is one of them.
    expect(checklist.offBench.length).toBeGreaterThan(0);
    for (const step of checklist.offBench) {
      if (step.kind === 'off-bench') expect(step.why.length, step.text).toBeGreaterThan(10);
    }
    const phone = checklist.items.find((i) => /phone/i.test(i.title));
    expect(phone?.steps.some((s) => s.kind === 'off-bench' && /phone/.test(s.why))).toBe(true);
    for (const item of checklist.items) {
      for (const step of item.steps) {
        if (step.kind === 'browser') expect(Object.keys(BROWSER), item.title).toContain(step.action);
      }
    }
  });

  describe('run as written', () => {
    const fixture = sitesPerTest();
    let service: ServiceProcess | null = null;
    let ha: MqttProbe | null = null;

    afterEach(async () => {
      killCliProcesses();
      if (service && service.child.exitCode === null && service.child.signalCode === null) {
        service.child.kill('SIGTERM');
        await service.exited;
      }
      await ha?.close();
    });

    it('gives the documented result at every step, in order', { timeout: 900_000 }, async () => {
      const sites = await fixture.create({
        name: 'checklist',
        remote: 'master',
        slaveDirName: 'jellyfin',
        masterWriteMs: 0,
        extraEnv: serviceEnv('checklist'),
      });
      const topics = benchTopics(sites);
      ha = await MqttProbe.connect(sites.config.mqtt.url, [topics.availability, topics.event]);
      const envFile = await writeEnvFile(sites, 'checklist.env');
      // "The service must be running throughout": as in production, `run` watches while the CLI works.
      service = spawnServiceProcess(envFile);
      await ha.waitFor(
        'the service online',
        (m) => m.topic === topics.availability && m.text === 'online',
        60_000,
      );
      const runner = new ChecklistRunner(sites, envFile, inject('bench').dockerSocket);
      const memory = new Map<string, UserItemData>();
      let since = Date.now();

      for (const item of checklist.items) {
        for (const step of item.steps) {
          switch (step.kind) {
            case 'commands':
              for (const command of step.commands) await runner.run(command);
              break;
            case 'browser': {
              const action = BROWSER[step.action];
              if (!action) throw new Error(`${DOC}, ${item.title}: no bench action "${step.action}"`);
              await action(sites, memory);
              break;
            }
            case 'off-bench': {
              if (step.event === null) break;
              // What the phone shows is the event's message: the service must have published it.
              const event: FailoverEvent = await ha.waitForEvent(topics.event, step.event, 60_000, since);
              expect(step.text, `${item.title}: the notification shows the event's message`).toContain(
                event.message,
              );
              const reason = (event as { reason?: unknown }).reason;
              if (typeof reason === 'string') expect(item.text).toContain(`\`${reason}\``);
              break;
            }
          }
        }
        since = Date.now();
      }
    });
  });
});
