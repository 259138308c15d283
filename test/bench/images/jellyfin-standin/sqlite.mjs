// One SQLite connection: a long-running sqlite3 CLI fed on stdin (Node 20 has no SQLite binding), in JSON output
// mode. Requests run one after the other; each ends with a marker line, so its result rows and any error messages
// (stderr is merged into stdout by the shell) belong to exactly that request.

import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const ERROR_LINE = /^(Parse error|Runtime error|Error)( near line \d+)?:/;

export class SqliteError extends Error {
  constructor(message, sqlText) {
    super(message);
    this.name = 'SqliteError';
    this.sql = sqlText;
  }
}

export class Sqlite {
  /**
   * @param {string} file database path
   * @param {(level: string, msg: string) => void} log
   */
  constructor(file, log) {
    this.file = file;
    this.log = log;
    this.child = null;
    this.queue = Promise.resolve();
    this.pending = null;
    this.seq = 0;
    this.exited = null;
  }

  /** Starts the sqlite3 process. Resolves once it answers. */
  async open() {
    // `exec ... 2>&1`: error messages arrive on the same pipe as results, in order. Its own process group: a
    // Ctrl-C meant for the stand-in does not kill it before the stand-in has checkpointed (it ends on stdin EOF).
    this.child = spawn('sh', ['-c', 'exec sqlite3 -batch -json "$0" 2>&1', this.file], {
      stdio: ['pipe', 'pipe', 'inherit'],
      detached: true,
    });
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.child = null;
        if (this.pending)
          this.pending.reject(new SqliteError(`sqlite3 exited (code ${code}, signal ${signal})`));
        this.pending = null;
        resolve({ code, signal });
      });
    });
    this.child.on('error', (err) => this.log('ERR', `cannot run sqlite3 for ${this.file}: ${err.message}`));
    this.child.stdin.on('error', (err) => this.log('WRN', `sqlite3 stdin (${this.file}): ${err.message}`));
    createInterface({ input: this.child.stdout }).on('line', (line) => this.onLine(line));
    await this.run('SELECT 1;');
  }

  onLine(line) {
    const p = this.pending;
    if (!p) {
      if (line.trim()) this.log('WRN', `sqlite3 (${this.file}) said outside a request: ${line}`);
      return;
    }
    if (line === p.marker) {
      this.pending = null;
      if (p.errors.length > 0) {
        p.reject(new SqliteError(`${this.file}: ${p.errors.join(' | ')}`, p.sqlText));
        return;
      }
      try {
        p.resolve(parseResultSets(p.lines));
      } catch (err) {
        p.reject(new SqliteError(`${this.file}: unreadable sqlite3 output: ${err.message}`, p.sqlText));
      }
      return;
    }
    if (ERROR_LINE.test(line)) p.errors.push(line);
    else if (p.errors.length > 0 && /^\s/.test(line)) p.errors.push(line.trim());
    else p.lines.push(line);
  }

  /**
   * Runs SQL (any number of statements); resolves with the result sets of the statements that return rows, each an
   * array of row objects. Rejects with the sqlite3 error text when a statement failed (later statements still ran,
   * as in the CLI).
   */
  run(sqlText) {
    const job = this.queue.then(
      () =>
        new Promise((resolve, reject) => {
          if (!this.child) {
            reject(new SqliteError(`${this.file}: sqlite3 is not running`, sqlText));
            return;
          }
          const marker = `__standin_done_${++this.seq}__`;
          this.pending = { marker, lines: [], errors: [], resolve, reject, sqlText };
          // The lone ';' ends a statement the caller left open, so the marker is never read as SQL.
          this.child.stdin.write(`${sqlText}\n;\n.print ${marker}\n`);
        }),
    );
    this.queue = job.catch(() => undefined);
    return job;
  }

  /** The rows of the first result set (or []). */
  async query(sqlText) {
    const sets = await this.run(sqlText);
    return sets[0] ?? [];
  }

  /** Ends the process after the queued requests (the last connection's close checkpoints and removes the -wal). */
  async close() {
    await this.queue;
    if (!this.child) return;
    const child = this.child;
    child.stdin.end('.quit\n');
    const killer = setTimeout(() => {
      this.log('WRN', `sqlite3 (${this.file}) did not exit within 8 s; killing it`);
      child.kill('SIGKILL');
    }, 8000);
    await this.exited;
    clearTimeout(killer);
  }
}

/** sqlite3 -json prints each result set as a JSON array whose first line starts with '['. */
function parseResultSets(lines) {
  const sets = [];
  let current = null;
  for (const line of lines) {
    if (line.startsWith('[')) {
      if (current !== null) sets.push(JSON.parse(current));
      current = line;
    } else if (current !== null) {
      current += `\n${line}`;
    } else if (line.trim()) {
      throw new Error(`unexpected line ${JSON.stringify(line)}`);
    }
  }
  if (current !== null) sets.push(JSON.parse(current));
  return sets;
}
