import { describe, expect, it } from 'vitest';
import { applyBanner, readBanner } from '../../src/domain/branding.js';

const MASTER = `<?xml version="1.0" encoding="utf-8"?>
<BrandingOptions xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">
  <LoginDisclaimer>Welcome &amp; enjoy</LoginDisclaimer>
  <CustomCss>.skinHeader { background: #123; }</CustomCss>
  <SplashscreenEnabled>true</SplashscreenEnabled>
</BrandingOptions>
`;

describe('slave banner in branding.xml', () => {
  it('replaces only LoginDisclaimer, escaped as XML, keeping the rest of master branding', () => {
    const banner = '<b>Standby</b> server: "changes" & progress may be lost';
    const out = applyBanner(MASTER, banner);
    expect(out).toContain(
      '&lt;b&gt;Standby&lt;/b&gt; server: &quot;changes&quot; &amp; progress may be lost',
    );
    expect(out).toContain('<CustomCss>.skinHeader { background: #123; }</CustomCss>');
    expect(out).toContain('<SplashscreenEnabled>true</SplashscreenEnabled>');
    expect(readBanner(out)).toBe(banner);
    expect(out.match(/<LoginDisclaimer>/g)).toHaveLength(1);
  });

  it('adds the element when missing, self-closed, or when there is no file at all', () => {
    const noDisclaimer = MASTER.replace(/ {2}<LoginDisclaimer>.*\n/, '');
    expect(readBanner(applyBanner(noDisclaimer, 'x'))).toBe('x');
    expect(
      readBanner(
        applyBanner(MASTER.replace(/<LoginDisclaimer>.*<\/LoginDisclaimer>/, '<LoginDisclaimer />'), 'y'),
      ),
    ).toBe('y');
    expect(readBanner(applyBanner(null, 'z'))).toBe('z');
  });

  it('treats $ patterns in the banner literally', () => {
    expect(readBanner(applyBanner(MASTER, 'costs $& and $1 and $$'))).toBe('costs $& and $1 and $$');
  });
});
