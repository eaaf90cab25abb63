/**
 * Which addresses fetch_url may connect to. A model can be talked into fetching anything, so
 * everything that is not the public internet is refused (SSRF): loopback, private and
 * link-local ranges (cloud metadata at 169.254.169.254 among them), carrier-grade NAT,
 * multicast and reserved ranges, their IPv6 forms, and IPv4 addresses inside IPv6 (mapped,
 * NAT64). The check runs on every address a name resolves to, at connect time, so a name
 * that resolves differently the second time (DNS rebinding) is caught too.
 */
import { BlockList, isIP } from 'node:net';

const REFUSED_V4 = ['0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12', '192.0.0.0/24', '192.0.2.0/24', '192.168.0.0/16', '198.18.0.0/15', '198.51.100.0/24', '203.0.113.0/24', '224.0.0.0/4', '240.0.0.0/4'];
const REFUSED_V6 = ['::/128', '::1/128', 'fc00::/7', 'fe80::/10', 'ff00::/8', '2001:db8::/32', '100::/64'];

function subnets(list: BlockList, cidrs: readonly string[], family: 'ipv4' | 'ipv6'): void {
  for (const cidr of cidrs) {
    const [net, bits] = cidr.split('/');
    list.addSubnet(net as string, Number(bits), family);
  }
}

const refused = new BlockList();
subnets(refused, REFUSED_V4, 'ipv4');
subnets(refused, REFUSED_V6, 'ipv6');

/** The IPv4 address inside an IPv6 one (::ffff:a.b.c.d, 64:ff9b::a.b.c.d), if any. */
function embeddedV4(address: string): string | undefined {
  const lower = address.toLowerCase();
  const dotted = /^(?:::ffff:|64:ff9b::)(\d{1,3}(?:\.\d{1,3}){3})$/.exec(lower);
  if (dotted) return dotted[1];
  const hex = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (!hex) return undefined;
  const [hi, lo] = [parseInt(hex[1] as string, 16), parseInt(hex[2] as string, 16)];
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

export class AddressPolicy {
  private readonly allowed = new BlockList();
  private readonly hasAllowed: boolean;

  /** `allow` are CIDRs an operator opened (an intranet); loopback can be opened only explicitly. */
  constructor(allow: readonly string[] = []) {
    for (const cidr of allow) {
      const [net, bits] = cidr.split('/');
      const family = isIP(net ?? '');
      if (family === 0 || bits === undefined || !/^\d{1,3}$/.test(bits)) throw new TypeError(`allow_networks: "${cidr}" is not a CIDR range (10.1.0.0/16, fd00::/8)`);
      this.allowed.addSubnet(net as string, Number(bits), family === 4 ? 'ipv4' : 'ipv6');
    }
    this.hasAllowed = allow.length > 0;
  }

  /** undefined when `address` (an IP) may be reached, else why not. */
  refusal(address: string): string | undefined {
    const family = isIP(address);
    if (family === 0) return `${address} is not an IP address`;
    const v4 = family === 6 ? embeddedV4(address) : address;
    const [checked, kind] = v4 !== undefined ? [v4, 'ipv4' as const] : [address, 'ipv6' as const];
    if (this.hasAllowed && this.allowed.check(checked, kind)) return undefined;
    if (refused.check(checked, kind)) return `${address} is a private, loopback or reserved address`;
    return undefined;
  }
}
