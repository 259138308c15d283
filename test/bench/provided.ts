import 'vitest';
/** What the integration bench's global setup hands to every test file (through vitest `provide`/`inject`). */
export interface BenchInfo {
  /** Docker Engine socket path of the bench's dockerd. */
  dockerSocket: string;
  /** `mqtt://127.0.0.1:<port>` of the bench's Mosquitto. */
  mqttUrl: string;
  /** Port of the bench's Mosquitto on 127.0.0.1. */
  mqttPort: number;
  /** Image tag of the Jellyfin stand-in. */
  standinImage: string;
  /** Image tag of the SWAG (nginx) stand-in. */
  swagImage: string;
  /** Image tag of the snapshot helper (SNAPSHOT_IMAGE: sh, sqlite3, coreutils). */
  snapshotImage: string;
  /** Scratch directory for this test run; removed at teardown. */
  workDir: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    bench: BenchInfo;
  }
}
