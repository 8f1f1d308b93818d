/**
 * The MD5 an ETag holds when it is the MD5 of the whole object (a single-part upload or copy), bare
 * and lower-case; undefined for a multipart ETag ("-N"). An SSE-KMS ETag looks the same and is not
 * an MD5: nothing in a listing tells them apart.
 */
export function plainMd5(etag: string | undefined): string | undefined {
  const bare = etag?.replaceAll('"', '');
  return bare && /^[0-9a-f]{32}$/i.test(bare) ? bare.toLowerCase() : undefined;
}
