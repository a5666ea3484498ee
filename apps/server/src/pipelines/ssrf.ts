import ipaddr from 'ipaddr.js';
import { isIP } from 'node:net';

/**
 * Readable names for ipaddr.js's special ranges. Every range it knows is refused except `unicast`
 * (public); the classifier is maintained upstream, so new special prefixes (6to4, Teredo,
 * `100::/64`, ...) are covered without a hand-kept table here.
 */
const LABELS: Record<string, string> = {
  unspecified: 'unspecified / this network',
  broadcast: 'broadcast',
  multicast: 'multicast',
  linkLocal: 'link-local / cloud metadata',
  loopback: 'loopback',
  carrierGradeNat: 'carrier-grade NAT',
  private: 'private',
  reserved: 'reserved',
  uniqueLocal: 'unique local (private)',
  discard: 'discard-only (100::/64)',
  '6to4': '6to4 (2002::/16, embeds an IPv4 address)',
  teredo: 'Teredo (2001::/32, embeds an IPv4 address)',
  rfc6145: 'IPv4-translated (SIIT)',
};

/**
 * Why an address must not be a webhook target (`'loopback'`...), or null when it is a public
 * address. An IPv4-mapped (`::ffff:a.b.c.d`) or NAT64 (`64:ff9b::/96`) address is judged by the
 * IPv4 address it carries. Anything that is not an IP address at all is refused too.
 */
export function refusedRange(ip: string): string | null {
  const bare = ip.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  // node's isIP accepts only the canonical forms a resolver returns or a URL normalises to.
  if (isIP(bare) === 0) return 'not an IP address';
  let address = ipaddr.parse(bare);
  if (address.kind() === 'ipv6') {
    const v6 = address as ipaddr.IPv6;
    if (v6.isIPv4MappedAddress()) address = v6.toIPv4Address();
    else if (v6.range() === 'rfc6052') address = new ipaddr.IPv4(v6.toByteArray().slice(12));
  }
  const range = address.range();
  if (range === 'unicast') return null;
  return LABELS[range] ?? range;
}
