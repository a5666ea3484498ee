import { refusedRange } from './ssrf';

describe('refusedRange (webhook SSRF guard)', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['10.0.0.5', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.10', 'private'],
    ['169.254.169.254', 'metadata'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['100.127.255.254', 'carrier-grade NAT'],
    ['0.0.0.0', 'this network'],
    ['::1', 'loopback'],
    ['[::1]', 'loopback'],
    ['fd00:ec2::254', 'unique local'],
    ['fc12::1', 'unique local'],
    ['fe80::1%eth0', 'link-local'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:a9fe:a9fe', 'metadata'],
    ['::ffff:10.1.2.3', 'private'],
    ['::', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['198.18.0.1', 'reserved'],
    ['2002:7f00:1::1', '6to4'],
    ['2002:0808:0808::1', '6to4'],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'Teredo'],
    ['100::1', 'discard'],
    ['64:ff9b::7f00:1', 'loopback'],
    ['64:ff9b::10.0.0.1', 'private'],
    ['2001:db8::1', 'reserved'],
  ])('refuses %s', (ip, label) => {
    expect(refusedRange(ip)).toContain(label);
  });

  it.each(['8.8.8.8', '1.1.1.1', '172.32.0.1', '172.15.255.255', '100.128.0.1', '169.255.0.1', '192.169.0.1', '2606:4700:4700::1111', '11.0.0.1', '64:ff9b::808:808', '::ffff:8.8.8.8'])(
    'allows the public address %s',
    (ip) => {
      expect(refusedRange(ip)).toBeNull();
    },
  );

  it('refuses what is not an address', () => {
    expect(refusedRange('example.com')).toBe('not an IP address');
  });
});
