// What every page must pass at a phone's and a desktop's width: no axe violations of WCAG 2.2
// A/AA, and (on the phone) no sideways scrolling. Each check also saves a full-page screenshot.

import { AxeBuilder } from '@axe-core/playwright';
import { mkdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { DESKTOP, PHONE } from './browser.mjs';
import { REPO_DIR } from './portal.mjs';

/** Where the screenshots go: <repo>/target/screenshots/<page>-<width>.png. */
export const SCREENSHOT_DIR = join(REPO_DIR, 'target', 'screenshots');

const WCAG_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];
const HTML_SNIPPET_CHARS = 200;

/** Saves a full-page screenshot as `<name>.png` and resolves with its path. */
export async function screenshot(page, name) {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  // Keep the mouse off the page so no hover style leaks into the picture.
  await page.mouse.move(0, 0);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** The axe violations of the page as it is now. */
export async function axeViolations(page) {
  const results = await new AxeBuilder({ page }).withTags(WCAG_TAGS).analyze();
  return results.violations;
}

/** Axe violations in words a person can act on: rule, what it wants, and each element. */
export function describeViolations(violations) {
  return violations
    .map((v) => {
      const nodes = v.nodes.map((node) => {
        const html = node.html.length > HTML_SNIPPET_CHARS ? `${node.html.slice(0, HTML_SNIPPET_CHARS)}…` : node.html;
        const summary = (node.failureSummary ?? '').replace(/\n\s*/g, ' ');
        return `    - ${node.target.join(' ')}\n      ${html}\n      ${summary}`;
      });
      return `  [${v.impact}] ${v.id}: ${v.help}\n    ${v.helpUrl}\n${nodes.join('\n')}`;
    })
    .join('\n');
}

/** The (at most 5) elements that stick out furthest to the right of a `width`-pixel-wide window. */
async function overflowingElements(page, width) {
  return page.evaluate((limit) => {
    // A box that scrolls or clips on its own keeps what is inside it from widening the page,
    // except an absolutely positioned element whose containing block lies outside that box.
    const clipped = (el) => {
      for (let node = el; node && node !== document.body; ) {
        const position = getComputedStyle(node).position;
        const up = position === 'fixed' ? null : position === 'absolute' ? node.offsetParent : node.parentElement;
        if (!up || up === document.body) {
          return false;
        }
        if (getComputedStyle(up).overflowX !== 'visible') {
          return true;
        }
        node = up;
      }
      return false;
    };
    const out = [];
    for (const el of document.body.querySelectorAll('*')) {
      if (clipped(el)) {
        continue;
      }
      const right = el.getBoundingClientRect().right + window.scrollX;
      if (right > limit + 0.5) {
        const id = el.id ? `#${el.id}` : '';
        const classes = el.classList.length ? `.${[...el.classList].join('.')}` : '';
        out.push({ right, name: `${el.tagName.toLowerCase()}${id}${classes}` });
      }
    }
    out.sort((a, b) => b.right - a.right);
    return out.slice(0, 5).map(({ right, name }) => `${name} (right edge at ${Math.round(right)} px)`);
  }, width);
}

/** The problems a phone user would hit on this page: sideways scrolling. */
async function reflowProblems(page, width) {
  const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  if (scrollWidth <= width) {
    return [];
  }
  const culprits = await overflowingElements(page, width);
  return [`  the page scrolls sideways: ${scrollWidth} px wide in a ${width} px window; widest: ${culprits.join(', ')}`];
}

/**
 * Checks the page that `page` shows at 360×740 and at 1280×900, each as a subtest of `t`:
 * screenshot `<name>-<width>.png`, zero axe violations, and at 360 px no sideways scrolling.
 * Leaves the page at desktop size.
 */
export async function checkPage(t, page, name) {
  for (const size of [PHONE, DESKTOP]) {
    await t.test(`${name} at ${size.width}×${size.height}`, async () => {
      await page.setViewportSize(size);
      const shot = await screenshot(page, `${name}-${size.width}`);
      const problems = size === PHONE ? await reflowProblems(page, size.width) : [];
      const violations = await axeViolations(page);
      if (violations.length > 0) {
        problems.push(`  ${violations.length} axe violation(s):\n${describeViolations(violations)}`);
      }
      if (problems.length > 0) {
        throw new Error(
          `${name} (${page.url()}) at ${size.width} px, screenshot ${relative(REPO_DIR, shot)}:\n${problems.join('\n')}`,
        );
      }
    });
  }
}
