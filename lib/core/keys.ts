/**
 * Compares two keys in S3's listing order: UTF-8 byte order, which is Unicode code point order.
 * JavaScript's `<` compares UTF-16 code units, which differs exactly when one string has a
 * surrogate (U+D800-DFFF, i.e. a code point above U+FFFF) where the other has U+E000-FFFF.
 */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      // Move surrogates above U+E000-FFFF, as their code points are.
      x = x < 0xe000 ? x + 0x2000 : x - 0x800;
      y = y < 0xe000 ? y + 0x2000 : y - 0x800;
    }
    return x - y;
  }
  return a.length - b.length;
}
