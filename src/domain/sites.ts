/** The two sites. Their names are fixed (SPEC section 1); the roles (primary, standby) move between them. */
export const SITE_NAMES = ['master', 'slave'] as const;
export type SiteName = (typeof SITE_NAMES)[number];

export function other(site: SiteName): SiteName {
  return site === 'master' ? 'slave' : 'master';
}

export function isSiteName(value: string): value is SiteName {
  return (SITE_NAMES as readonly string[]).includes(value);
}
