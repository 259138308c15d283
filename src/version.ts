import { readFileSync } from 'node:fs';

/** The version in package.json (what `--version`, discovery's sw_version and the image label say). */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}
