/**
 * Valid headers of every kind, as fast-check arbitraries: each case is what to encode and what the
 * parser must answer for it.
 */
import fc from 'fast-check';
import { proxyTlv, SslClient, TlvType, type ProxyAddress, type ProxyHeaderInit, type ProxySslInit, type ProxyTlv } from '@handoff/proxy-protocol';
import { formatIPv4, formatIPv6 } from '../src/address.js';

/** The header kinds the property tests cover, 10,000 cases each. */
export const KINDS = ['v1-tcp4', 'v1-tcp6', 'v1-unknown', 'v2-ipv4', 'v2-ipv6', 'v2-unix', 'v2-local', 'v2-unspec'] as const;
export type Kind = (typeof KINDS)[number];

/** Decoded fields a case's TLVs must produce. */
export interface ExpectedFields {
  alpn?: string;
  authority?: string;
  uniqueId?: Uint8Array;
  ssl?: ProxySslInit;
  netns?: string;
  awsVpceId?: string;
}

/** One valid header: the encoder's input, the fields the parser must report, and its TLVs. */
export interface Case {
  readonly kind: Kind;
  readonly init: ProxyHeaderInit;
  readonly family: 'IPv4' | 'IPv6' | 'unix' | 'unspec';
  readonly transport: 'stream' | 'dgram' | 'unspec';
  /** The addresses as the parser must report them (canonical text). */
  readonly source: ProxyAddress | undefined;
  readonly destination: ProxyAddress | undefined;
  readonly fields: ExpectedFields;
  readonly checksum: boolean;
}

const port = fc.integer({ min: 0, max: 0xffff });

/** IPv4: text and canonical text (the same: v1 allows one form). */
const ipv4 = fc.uint8Array({ minLength: 4, maxLength: 4 }).map((bytes) => formatIPv4(bytes, 0));

/** 16 bytes with runs of zero words often, so that `::` and embedded IPv4 forms come up. */
const ipv6Bytes = fc
  .array(fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constant(0xffff) }, { weight: 4, arbitrary: fc.integer({ min: 0, max: 0xffff }) }), { minLength: 8, maxLength: 8 })
  .map((words) => {
    const bytes = new Uint8Array(16);
    words.forEach((word, i) => {
      bytes[i * 2] = word >> 8;
      bytes[i * 2 + 1] = word & 0xff;
    });
    return bytes;
  });

/** An IPv6 address as some sender may write it (canonical, full with leading zeros, upper case), and as Node reports it. */
const ipv6 = fc.tuple(ipv6Bytes, fc.constantFrom('canonical', 'full', 'upper')).map(([bytes, style]) => {
  const canonical = formatIPv6(bytes, 0);
  let text = canonical;
  if (style === 'full') text = Array.from({ length: 8 }, (_, i) => ((bytes[i * 2]! << 8) | bytes[i * 2 + 1]!).toString(16).padStart(4, '0')).join(':');
  if (style === 'upper') text = canonical.toUpperCase();
  return { text, canonical };
});

const unixPath = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 107 }).map((name) => `\0${name}`),
).filter((path) => Buffer.byteLength(path) <= 108 && !path.endsWith('\0'));

const asciiText = (max: number) => fc.string({ unit: 'grapheme-ascii', maxLength: max });

const sslInit: fc.Arbitrary<ProxySslInit> = fc.record(
  {
    client: fc.integer({ min: 0, max: 0xff }),
    verify: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffffffff })),
    version: fc.constantFrom('TLSv1.2', 'TLSv1.3'),
    cn: fc.string({ unit: 'grapheme', maxLength: 20 }),
    cipher: fc.constantFrom('ECDHE-RSA-AES128-GCM-SHA256', 'TLS_AES_256_GCM_SHA384'),
    sigAlg: fc.constantFrom('RSA-SHA256', 'ECDSA-SHA384'),
    keyAlg: fc.constantFrom('RSA2048', 'EC256'),
    group: fc.constantFrom('secp256r1', 'X25519'),
    sigScheme: fc.constantFrom('rsa_pss_rsae_sha256', 'ecdsa_secp256r1_sha256'),
    clientCert: fc.uint8Array({ maxLength: 64 }),
  },
  { requiredKeys: ['client', 'verify'] },
);

/** One TLV: the key that keeps known types unique, the TLV, and the fields it decodes to. */
interface TlvCase {
  readonly key: string;
  readonly tlv: ProxyTlv;
  readonly fields: ExpectedFields;
}

const known: fc.Arbitrary<TlvCase> = fc.oneof(
  asciiText(16).map((alpn) => ({ key: 'alpn', tlv: proxyTlv.alpn(alpn), fields: { alpn } })),
  fc.string({ unit: 'grapheme', maxLength: 40 }).map((authority) => ({ key: 'authority', tlv: proxyTlv.authority(authority), fields: { authority } })),
  fc.uint8Array({ maxLength: 128 }).map((id) => ({ key: 'uniqueId', tlv: proxyTlv.uniqueId(id), fields: { uniqueId: id } })),
  sslInit.map((ssl) => ({ key: 'ssl', tlv: proxyTlv.ssl(ssl), fields: { ssl } })),
  asciiText(20).map((netns) => ({ key: 'netns', tlv: proxyTlv.netns(netns), fields: { netns } })),
  asciiText(24).map((id) => ({ key: 'aws', tlv: proxyTlv.awsVpceId(`vpce-${id}`), fields: { awsVpceId: `vpce-${id}` } })),
);

/** TLVs the parser keeps but does not decode: NOOP, the custom and experimental ranges (not AWS's 0xEA), unknown types. */
const opaque: fc.Arbitrary<TlvCase> = fc
  .tuple(fc.oneof(fc.constant(TlvType.NOOP), fc.integer({ min: 0xe0, max: 0xff }).filter((t) => t !== TlvType.AWS), fc.integer({ min: 0x06, max: 0x1f }), fc.integer({ min: 0x31, max: 0x7f })), fc.uint8Array({ maxLength: 32 }))
  .map(([type, value]) => ({ key: 'opaque', tlv: { type, value }, fields: {} }));

// Known types are unique (a repeat is refused); opaque ones may repeat, so each is its own key.
const tlvCases = fc.uniqueArray(fc.oneof(known, opaque), { maxLength: 5, selector: (c): unknown => (c.key === 'opaque' ? c : c.key) });

function merge(cases: readonly TlvCase[]): ExpectedFields {
  return Object.assign({}, ...cases.map((c) => c.fields)) as ExpectedFields;
}

const v2Extras = fc.record({ tlvs: tlvCases, checksum: fc.boolean() });

function inet(family: 'IPv4' | 'IPv6'): fc.Arbitrary<{ text: [string, string]; canonical: [string, string]; ports: [number, number] }> {
  const address = family === 'IPv4' ? ipv4.map((text) => ({ text, canonical: text })) : ipv6;
  return fc.record({ a: address, b: address, p: port, q: port }).map(({ a, b, p, q }) => ({ text: [a.text, b.text], canonical: [a.canonical, b.canonical], ports: [p, q] }));
}

function v1(family: 'IPv4' | 'IPv6', kind: Kind): fc.Arbitrary<Case> {
  return inet(family).map(({ text, canonical, ports }) => ({
    kind,
    init: { version: 1, source: { family, address: text[0], port: ports[0] }, destination: { family, address: text[1], port: ports[1] } },
    family,
    transport: 'stream',
    source: { family, address: canonical[0], port: ports[0] },
    destination: { family, address: canonical[1], port: ports[1] },
    fields: {},
    checksum: false,
  }));
}

function v2Inet(family: 'IPv4' | 'IPv6', kind: Kind): fc.Arbitrary<Case> {
  return fc.tuple(inet(family), fc.constantFrom('stream', 'dgram'), v2Extras).map(([{ text, canonical, ports }, transport, { tlvs, checksum }]) => ({
    kind,
    init: { version: 2, transport, source: { family, address: text[0], port: ports[0] }, destination: { family, address: text[1], port: ports[1] }, tlvs: tlvs.map((c) => c.tlv), checksum },
    family,
    transport,
    source: { family, address: canonical[0], port: ports[0] },
    destination: { family, address: canonical[1], port: ports[1] },
    fields: merge(tlvs),
    checksum,
  }));
}

const byKind: Record<Kind, fc.Arbitrary<Case>> = {
  'v1-tcp4': v1('IPv4', 'v1-tcp4'),
  'v1-tcp6': v1('IPv6', 'v1-tcp6'),
  'v1-unknown': fc.constant({ kind: 'v1-unknown', init: { version: 1 }, family: 'unspec', transport: 'unspec', source: undefined, destination: undefined, fields: {}, checksum: false }),
  'v2-ipv4': v2Inet('IPv4', 'v2-ipv4'),
  'v2-ipv6': v2Inet('IPv6', 'v2-ipv6'),
  'v2-unix': fc.tuple(unixPath, unixPath, fc.constantFrom('stream', 'dgram'), v2Extras).map(([from, to, transport, { tlvs, checksum }]) => {
    const source: ProxyAddress = { family: 'unix', path: from };
    const destination: ProxyAddress = { family: 'unix', path: to };
    return { kind: 'v2-unix', init: { version: 2, transport, source, destination, tlvs: tlvs.map((c) => c.tlv), checksum }, family: 'unix', transport, source, destination, fields: merge(tlvs), checksum };
  }),
  'v2-local': v2Extras.map(({ tlvs, checksum }) => ({ kind: 'v2-local', init: { version: 2, command: 'local', tlvs: tlvs.map((c) => c.tlv), checksum }, family: 'unspec', transport: 'unspec', source: undefined, destination: undefined, fields: merge(tlvs), checksum })),
  'v2-unspec': v2Extras.map(({ tlvs, checksum }) => ({ kind: 'v2-unspec', init: { version: 2, tlvs: tlvs.map((c) => c.tlv), checksum }, family: 'unspec', transport: 'unspec', source: undefined, destination: undefined, fields: merge(tlvs), checksum })),
};

/** Valid headers of one kind. */
export function caseArb(kind: Kind): fc.Arbitrary<Case> {
  return byKind[kind];
}

/** One change to a header's bytes. */
export type Mutation =
  | { readonly op: 'set'; readonly at: number; readonly byte: number }
  | { readonly op: 'flip'; readonly at: number; readonly bit: number }
  | { readonly op: 'delete'; readonly at: number }
  | { readonly op: 'insert'; readonly at: number; readonly byte: number }
  | { readonly op: 'replace-tail'; readonly at: number; readonly tail: Uint8Array }
  | { readonly op: 'length'; readonly delta: number };

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('replace-tail' as const), at: fc.nat(), tail: fc.uint8Array({ maxLength: 64 }) }),
  fc.record({ op: fc.constant('length' as const), delta: fc.integer({ min: -40, max: 40 }) }),
);

/** Applies a mutation to a header's bytes (indices wrap), returning new bytes. */
export function mutate(bytes: Uint8Array, m: Mutation): Buffer {
  const copy = Buffer.from(bytes);
  const n = copy.length;
  switch (m.op) {
    case 'set':
      copy[m.at % n] = m.byte;
      return copy;
    case 'flip':
      copy[m.at % n] = copy[m.at % n]! ^ (1 << m.bit);
      return copy;
    case 'delete':
      return Buffer.concat([copy.subarray(0, m.at % n), copy.subarray((m.at % n) + 1)]);
    case 'insert':
      return Buffer.concat([copy.subarray(0, m.at % (n + 1)), Uint8Array.of(m.byte), copy.subarray(m.at % (n + 1))]);
    case 'replace-tail':
      return Buffer.concat([copy.subarray(0, m.at % n), m.tail]);
    case 'length':
      if (n >= 16 && copy[0] === 0x0d) copy.writeUInt16BE((copy.readUInt16BE(14) + m.delta + 0x10000) % 0x10000, 14);
      else copy[Math.abs(m.delta) % n] = 0x20;
      return copy;
  }
}

/** Split points that cut `length` bytes into chunks (possibly empty ones). */
export const splitsArb = fc.array(fc.nat(), { maxLength: 6 });

/** Cuts `bytes` at the given points (modulo its length), in order. */
export function chunks(bytes: Uint8Array, points: readonly number[]): Uint8Array[] {
  const cuts = points.map((p) => p % (bytes.length + 1)).sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const cut of cuts) {
    out.push(bytes.subarray(from, cut));
    from = cut;
  }
  out.push(bytes.subarray(from));
  return out;
}
