/**
 * The slave's login banner lives in Jellyfin's branding.xml as `LoginDisclaimer` (HTML, escaped as XML text).
 * Only that element changes; the rest of master's branding (CustomCss, SplashscreenEnabled, ...) is kept.
 */

export function escapeXml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

export function unescapeXml(text: string): string {
  return text
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&#(\d+);/g, (_, d: string) => String.fromCodePoint(Number(d)))
    .replace(/&#x([0-9a-fA-F]+);/g, (_, h: string) => String.fromCodePoint(Number.parseInt(h, 16)))
    .replace(/&amp;/g, '&');
}

const EMPTY_BRANDING = `<?xml version="1.0" encoding="utf-8"?>
<BrandingOptions xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">
  <SplashscreenEnabled>false</SplashscreenEnabled>
</BrandingOptions>
`;

/** Returns branding.xml with `LoginDisclaimer` set to `banner`; `existing` null means there was no file. */
export function applyBanner(existing: string | null, banner: string): string {
  const xml = existing && /<BrandingOptions[\s>]/.test(existing) ? existing : EMPTY_BRANDING;
  const element = `<LoginDisclaimer>${escapeXml(banner)}</LoginDisclaimer>`;
  if (/<LoginDisclaimer\s*\/>/.test(xml)) return xml.replace(/<LoginDisclaimer\s*\/>/, element);
  if (/<LoginDisclaimer>[\s\S]*?<\/LoginDisclaimer>/.test(xml)) {
    return xml.replace(/<LoginDisclaimer>[\s\S]*?<\/LoginDisclaimer>/, () => element);
  }
  if (/<BrandingOptions\s*\/>/.test(xml)) {
    return xml.replace(/<BrandingOptions\s*\/>/, () => `<BrandingOptions>\n  ${element}\n</BrandingOptions>`);
  }
  return xml.replace(/(<BrandingOptions[^>]*>)/, (open) => `${open}\n  ${element}`);
}

/** The `LoginDisclaimer` text of a branding.xml, unescaped; null when absent. */
export function readBanner(xml: string | null): string | null {
  if (!xml) return null;
  const m = /<LoginDisclaimer>([\s\S]*?)<\/LoginDisclaimer>/.exec(xml);
  return m?.[1] === undefined ? null : unescapeXml(m[1]);
}
