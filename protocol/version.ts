/** The laas release; agents and controllers report it in hello and welcome. */
export const LAAS_VERSION = '0.1.0';

/**
 * Compares two release numbers ("1.2.10" > "1.2.9"; a pre-release "1.3.0-rc.1" is below "1.3.0"):
 * negative when `a` is older than `b`, 0 when equal, positive when newer. Parts that are not
 * numbers compare as text; a missing part counts as 0.
 */
export function compareVersions(a: string, b: string): number {
  const [coreA, preA] = splitPre(a);
  const [coreB, preB] = splitPre(b);
  const pa = coreA.split('.');
  const pb = coreB.split('.');
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = comparePart(pa[i] ?? '0', pb[i] ?? '0');
    if (d !== 0) return d;
  }
  if (preA === preB) return 0;
  if (preA === undefined) return 1;
  if (preB === undefined) return -1;
  return comparePart(preA, preB);
}

function splitPre(v: string): [string, string | undefined] {
  const i = v.indexOf('-');
  return i < 0 ? [v.trim(), undefined] : [v.slice(0, i).trim(), v.slice(i + 1)];
}

function comparePart(a: string, b: string): number {
  const na = Number(a);
  const nb = Number(b);
  if (a !== '' && b !== '' && Number.isFinite(na) && Number.isFinite(nb)) return na - nb;
  return a < b ? -1 : a > b ? 1 : 0;
}
