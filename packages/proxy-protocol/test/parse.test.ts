import { describe, expect, it } from 'vitest';
import {
  createProxyHeaderParser,
  encodeProxyHeader,
  parseProxyHeader,
  proxyTlv,
  ProxyProtocolErrorCode as Code,
  TlvType,
  V2_SIGNATURE,
  type ProxyParseResult,
  type ProxyTlv,
} from '@handoff/proxy-protocol';

const ascii = (text: string) => Buffer.from(text, 'latin1');

function codeOf(result: ProxyParseResult): string {
  if (result.status === 'error') return result.error.code;
  return result.status;
}

function done(result: ProxyParseResult) {
  if (result.status !== 'done') throw new Error(`expected done, got ${JSON.stringify(result.status === 'error' ? result.error.message : result)}`);
  return result;
}

/** A v2 header by hand: version/command byte, family byte, body (length written from it). */
function v2(verCmd: number, fam: number, body: Uint8Array | number[] = []): Buffer {
  const rest = Buffer.from(body);
  const head = Buffer.alloc(16);
  head.set(V2_SIGNATURE, 0);
  head[12] = verCmd;
  head[13] = fam;
  head.writeUInt16BE(rest.length, 14);
  return Buffer.concat([head, rest]);
}

function tlvBytes(type: number, value: Uint8Array | number[]): Buffer {
  const v = Buffer.from(value);
  const out = Buffer.alloc(3 + v.length);
  out[0] = type;
  out.writeUInt16BE(v.length, 1);
  v.copy(out, 3);
  return out;
}

const IPV4_BLOCK = [127, 0, 0, 2, 127, 0, 0, 1, 0x30, 0x39, 0x00, 0x50];

describe('v1', () => {
  it("parses the spec's example line and points past its CRLF", () => {
    const bytes = ascii('PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n');
    const result = done(parseProxyHeader(bytes));
    expect(result.offset).toBe(47);
    expect(result.header).toEqual({
      version: 1,
      command: 'proxy',
      family: 'IPv4',
      transport: 'stream',
      source: { family: 'IPv4', address: '192.168.0.1', port: 56324 },
      destination: { family: 'IPv4', address: '192.168.0.11', port: 443 },
      tlvs: [],
    });
    expect(bytes.subarray(result.offset).toString('latin1').startsWith('GET / HTTP/1.1')).toBe(true);
  });

  it("accepts the spec's longest lines (56, 104 and 107 bytes) and refuses a 108th byte before the CRLF", () => {
    const v6 = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';
    const tcp4 = 'PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n';
    const tcp6 = `PROXY TCP6 ${v6} ${v6} 65535 65535\r\n`;
    const worst = `PROXY UNKNOWN ${v6} ${v6} 65535 65535\r\n`;
    expect([tcp4.length, tcp6.length, worst.length]).toEqual([56, 104, 107]);
    expect(done(parseProxyHeader(ascii(tcp4))).offset).toBe(56);
    expect(done(parseProxyHeader(ascii(tcp6))).header.source).toEqual({ family: 'IPv6', address: v6, port: 65535 });
    expect(done(parseProxyHeader(ascii(worst))).header).toMatchObject({ family: 'unspec', source: undefined });
    const long = `PROXY UNKNOWN ${v6} ${v6} 65535 655355\r\n`;
    expect(codeOf(parseProxyHeader(ascii(long)))).toBe(Code.V1_TOO_LONG);
    expect(codeOf(parseProxyHeader(ascii(long.slice(0, 107))))).toBe(Code.V1_TOO_LONG);
    // CR as the 107th byte: the LF would be the 108th.
    expect(codeOf(parseProxyHeader(ascii(`${long.slice(0, 106)}\r`)))).toBe(Code.V1_TOO_LONG);
  });

  it('takes UNKNOWN alone or followed by anything, and reports no addresses', () => {
    expect(done(parseProxyHeader(ascii('PROXY UNKNOWN\r\n'))).header).toMatchObject({ version: 1, family: 'unspec', transport: 'unspec', source: undefined, destination: undefined });
    expect(done(parseProxyHeader(ascii('PROXY UNKNOWN \x01\xff whatever\r\nx'))).offset).toBe(27);
  });

  it('reports IPv6 sources in the form Node gives remoteAddress, whatever form the sender used', () => {
    const line = 'PROXY TCP6 2001:0DB8:0000:0000:0000:0000:0000:0001 ::FFFF:127.0.0.2 1 2\r\n';
    const { header } = done(parseProxyHeader(ascii(line)));
    expect(header.source).toEqual({ family: 'IPv6', address: '2001:db8::1', port: 1 });
    expect(header.destination).toEqual({ family: 'IPv6', address: '::ffff:127.0.0.2', port: 2 });
  });

  it.each([
    ['a lone LF', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n'],
    ['a lone CR', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rx'],
    ['two spaces', 'PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n'],
    ['a trailing space', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n'],
    ['a missing port', 'PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n'],
    ['a leading zero in an octet', 'PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n'],
    ['an octet above 255', 'PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n'],
    ['a leading zero in a port', 'PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n'],
    ['a port above 65535', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n'],
    ['a signed port', 'PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n'],
    ['an IPv6 address under TCP4', 'PROXY TCP4 ::1 ::1 1 2\r\n'],
    ['an IPv4 address under TCP6', 'PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n'],
    ['an IPv6 zone', 'PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n'],
    ['two ::', 'PROXY TCP6 1::2::3 ::1 1 2\r\n'],
    ['nine IPv6 words', 'PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n'],
    ['an unknown protocol', 'PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n'],
    ['no space after PROXY', 'PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n'],
  ])('refuses %s', (_what, line) => {
    expect(codeOf(parseProxyHeader(ascii(line)))).toBe(Code.V1_MALFORMED);
  });

  it('waits for the CRLF before judging the fields', () => {
    expect(parseProxyHeader(ascii('PROXY TCP4 1.2.3.4 5.6.7.8 1 2'))).toEqual({ status: 'incomplete', needed: 1 });
    expect(parseProxyHeader(ascii('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r'))).toEqual({ status: 'incomplete', needed: 1 });
    expect(parseProxyHeader(ascii('PROXY'))).toEqual({ status: 'incomplete', needed: 10 });
  });
});

describe('either version', () => {
  it('refuses a connection that starts with anything else at its first wrong byte', () => {
    expect(codeOf(parseProxyHeader(ascii('G')))).toBe(Code.SIGNATURE);
    expect(codeOf(parseProxyHeader(ascii('PROXZ')))).toBe(Code.SIGNATURE);
    expect(codeOf(parseProxyHeader(ascii('proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n')))).toBe(Code.SIGNATURE);
    expect(codeOf(parseProxyHeader(Buffer.from([0x0d, 0x0a, 0x0d, 0x0b])))).toBe(Code.SIGNATURE);
    expect(codeOf(parseProxyHeader(Buffer.from([0x16, 0x03, 0x01])))).toBe(Code.SIGNATURE);
  });

  it('asks for the bytes of the shortest header when it has none', () => {
    expect(parseProxyHeader(new Uint8Array(0))).toEqual({ status: 'incomplete', needed: 15 });
  });

  it('refuses maxHeaderBytes it cannot honour', () => {
    expect(() => parseProxyHeader(new Uint8Array(0), { maxHeaderBytes: 100 })).toThrow(expect.objectContaining({ code: Code.OPTIONS }));
    expect(() => createProxyHeaderParser({ maxHeaderBytes: 70_000 })).toThrow(expect.objectContaining({ code: Code.OPTIONS }));
  });
});

describe('v2', () => {
  it('parses TCP over IPv4 and asks for exactly the announced length', () => {
    const bytes = v2(0x21, 0x11, IPV4_BLOCK);
    expect(parseProxyHeader(bytes.subarray(0, 16))).toEqual({ status: 'incomplete', needed: 12 });
    expect(parseProxyHeader(bytes.subarray(0, 3))).toEqual({ status: 'incomplete', needed: 13 });
    const { header, offset } = done(parseProxyHeader(Buffer.concat([bytes, ascii('GET')])));
    expect(offset).toBe(28);
    expect(header).toMatchObject({
      version: 2,
      command: 'proxy',
      family: 'IPv4',
      transport: 'stream',
      source: { family: 'IPv4', address: '127.0.0.2', port: 12345 },
      destination: { family: 'IPv4', address: '127.0.0.1', port: 80 },
      tlvs: [],
    });
  });

  it('parses Unix addresses and trims their NUL padding', () => {
    const block = Buffer.alloc(216);
    block.write('/run/client.sock', 0);
    block.write('\0abstract', 108);
    const { header } = done(parseProxyHeader(v2(0x21, 0x31, block)));
    expect(header.source).toEqual({ family: 'unix', path: '/run/client.sock' });
    expect(header.destination).toEqual({ family: 'unix', path: '\0abstract' });
  });

  it('honours LOCAL whatever its family and address bytes, and reports no addresses', () => {
    expect(done(parseProxyHeader(v2(0x20, 0x00))).header).toMatchObject({ command: 'local', source: undefined, tlvs: [] });
    // A LOCAL header with an IPv4 block too short for it: accepted, the block ignored.
    expect(done(parseProxyHeader(v2(0x20, 0x11, [1, 2, 3]))).header).toMatchObject({ command: 'local', family: 'IPv4', source: undefined });
    expect(done(parseProxyHeader(v2(0x20, 0x11, IPV4_BLOCK))).header.source).toBeUndefined();
  });

  it('reports no addresses for AF_UNSPEC or an unspecified transport, and skips their block', () => {
    expect(done(parseProxyHeader(v2(0x21, 0x00, [1, 0, 0]))).header).toMatchObject({ family: 'unspec', source: undefined, tlvs: [{ type: 1, value: Buffer.alloc(0) }] });
    expect(done(parseProxyHeader(v2(0x21, 0x10, IPV4_BLOCK))).header).toMatchObject({ family: 'IPv4', transport: 'unspec', source: undefined, tlvs: [] });
  });

  it.each([
    ['version 1', 0x11, 0x11, Code.V2_VERSION],
    ['version 3', 0x31, 0x11, Code.V2_VERSION],
    ['command 2', 0x22, 0x11, Code.V2_COMMAND],
    ['family 4', 0x21, 0x41, Code.V2_FAMILY],
    ['transport 3', 0x21, 0x13, Code.V2_FAMILY],
  ])('refuses %s as soon as its byte arrives', (_what, verCmd, fam, code) => {
    const bytes = v2(verCmd, fam, IPV4_BLOCK);
    const at = verCmd === 0x21 ? 14 : 13;
    expect(codeOf(parseProxyHeader(bytes.subarray(0, at)))).toBe(code);
    expect(codeOf(parseProxyHeader(bytes))).toBe(code);
  });

  it('refuses a PROXY header too short for its address block', () => {
    expect(codeOf(parseProxyHeader(v2(0x21, 0x11, IPV4_BLOCK.slice(0, 11))))).toBe(Code.V2_ADDRESS);
    expect(codeOf(parseProxyHeader(v2(0x21, 0x21, Buffer.alloc(35))))).toBe(Code.V2_ADDRESS);
    expect(codeOf(parseProxyHeader(v2(0x21, 0x31, Buffer.alloc(215))))).toBe(Code.V2_ADDRESS);
  });

  it('refuses a header announcing more than maxHeaderBytes once its 16th byte is in, without waiting for it', () => {
    const head = v2(0x21, 0x11).subarray(0, 16);
    head.writeUInt16BE(5000, 14);
    expect(codeOf(parseProxyHeader(head))).toBe(Code.TOO_LARGE);
    head.writeUInt16BE(200, 14);
    expect(codeOf(parseProxyHeader(head, { maxHeaderBytes: 200 }))).toBe(Code.TOO_LARGE);
    expect(parseProxyHeader(head, { maxHeaderBytes: 216 })).toEqual({ status: 'incomplete', needed: 200 });
  });
});

describe('v2 TLVs', () => {
  const header = (...tlvs: Buffer[]) => v2(0x21, 0x11, Buffer.concat([Buffer.from(IPV4_BLOCK), ...tlvs]));

  it('decodes ALPN, authority, unique id, NETNS, AWS VPC endpoint id and SSL with its sub-TLVs, keeping every TLV in order', () => {
    const ssl = proxyTlv.ssl({ client: 0x07, verify: 0, version: 'TLSv1.3', cn: 'client.example', cipher: 'TLS_AES_128_GCM_SHA256', sigAlg: 'RSA-SHA256', keyAlg: 'RSA2048', group: 'X25519', sigScheme: 'rsa_pss_rsae_sha256', clientCert: Buffer.from([0x30, 0x82]) });
    const tlvs: ProxyTlv[] = [proxyTlv.alpn('h2'), proxyTlv.authority('éxample.com'), proxyTlv.uniqueId('abc'), proxyTlv.noop(3), proxyTlv.netns('blue'), proxyTlv.awsVpceId('vpce-08d2bf15fac5001c9'), ssl, { type: 0xe1, value: Buffer.from('mine') }];
    const bytes = encodeProxyHeader({ version: 2, source: { family: 'IPv4', address: '10.0.0.1', port: 1 }, destination: { family: 'IPv4', address: '10.0.0.2', port: 2 }, tlvs });
    const { header: parsed } = done(parseProxyHeader(bytes));
    expect(parsed).toMatchObject({ alpn: 'h2', authority: 'éxample.com', netns: 'blue', awsVpceId: 'vpce-08d2bf15fac5001c9' });
    expect(Buffer.from(parsed.uniqueId!).toString()).toBe('abc');
    expect(parsed.ssl).toMatchObject({ client: 7, verify: 0, version: 'TLSv1.3', cn: 'client.example', cipher: 'TLS_AES_128_GCM_SHA256', sigAlg: 'RSA-SHA256', keyAlg: 'RSA2048', group: 'X25519', sigScheme: 'rsa_pss_rsae_sha256' });
    expect(Buffer.from(parsed.ssl!.clientCert!)).toEqual(Buffer.from([0x30, 0x82]));
    expect(parsed.ssl!.tlvs.map((t) => t.type)).toEqual([0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28]);
    expect(parsed.tlvs.map((t) => t.type)).toEqual([0x01, 0x02, 0x05, 0x04, 0x30, 0xea, 0x20, 0xe1]);
    expect(parsed.crc32c).toBeUndefined();
  });

  it('keeps an AWS TLV of another subtype undecoded', () => {
    const { header: parsed } = done(parseProxyHeader(header(tlvBytes(0xea, [0x02, 1, 2]))));
    expect(parsed.awsVpceId).toBeUndefined();
    expect(parsed.tlvs).toHaveLength(1);
  });

  it('checks a CRC32C: accepts the right one, refuses a wrong one or one of the wrong size', () => {
    const bytes = encodeProxyHeader({ version: 2, source: { family: 'IPv4', address: '10.0.0.1', port: 1 }, destination: { family: 'IPv4', address: '10.0.0.2', port: 2 }, tlvs: [proxyTlv.authority('a')], checksum: true });
    const { header: parsed } = done(parseProxyHeader(bytes));
    expect(parsed.crc32c).toBe(bytes.readUInt32BE(bytes.length - 4));
    const forged = Buffer.from(bytes);
    forged[16] = 11; // the source address, as a spoofer would change it
    expect(codeOf(parseProxyHeader(forged))).toBe(Code.CHECKSUM);
    expect(codeOf(parseProxyHeader(header(tlvBytes(TlvType.CRC32C, [1, 2, 3]))))).toBe(Code.TLV);
  });

  it.each([
    ['a TLV header cut short', () => header(Buffer.from([0x01, 0x00]))],
    ['a value past the end', () => header(Buffer.from([0x01, 0x00, 0x05, 1, 2]))],
    ['a unique id of 129 bytes', () => header(tlvBytes(TlvType.UNIQUE_ID, Buffer.alloc(129)))],
    ['an SSL TLV shorter than its fixed fields', () => header(tlvBytes(TlvType.SSL, [1, 0, 0, 0]))],
    ['an SSL sub-TLV past its end', () => header(tlvBytes(TlvType.SSL, [1, 0, 0, 0, 0, 0x21, 0, 9, 1]))],
    ['an authority that is not UTF-8', () => header(tlvBytes(TlvType.AUTHORITY, [0xff, 0xfe]))],
    ['an SSL CN that is not UTF-8', () => header(tlvBytes(TlvType.SSL, [1, 0, 0, 0, 0, 0x22, 0, 1, 0xff]))],
    ['an AWS TLV without a subtype', () => header(tlvBytes(TlvType.AWS, []))],
    ['two authorities', () => header(tlvBytes(TlvType.AUTHORITY, [0x61]), tlvBytes(TlvType.AUTHORITY, [0x62]))],
    ['two AWS VPC endpoint ids', () => header(tlvBytes(TlvType.AWS, [1, 0x61]), tlvBytes(TlvType.AWS, [1, 0x62]))],
    ['two SSL versions', () => header(tlvBytes(TlvType.SSL, [1, 0, 0, 0, 0, 0x21, 0, 1, 0x61, 0x21, 0, 1, 0x62]))],
  ])('refuses %s', (_what, make) => {
    expect(codeOf(parseProxyHeader(make()))).toBe(Code.TLV);
  });
});

describe('the incremental parser', () => {
  const bytes = encodeProxyHeader({ version: 2, source: { family: 'IPv6', address: '2001:db8::7', port: 443 }, destination: { family: 'IPv6', address: '::1', port: 8080 }, tlvs: [proxyTlv.authority('example.com')], checksum: true });

  it('answers byte by byte what the one-shot parse answers, and hands on the payload untouched', () => {
    const parser = createProxyHeaderParser();
    const input = Buffer.concat([bytes, ascii('GET / HTTP/1.1\r\n')]);
    for (let i = 0; i < bytes.length - 1; i++) expect(parser.push(input.subarray(i, i + 1)).status).toBe('incomplete');
    const last = parser.push(input.subarray(bytes.length - 1, bytes.length + 4));
    if (last.status !== 'done') throw new Error(last.status);
    expect(last.offset).toBe(bytes.length);
    expect(last.rest.toString()).toBe('GET ');
    expect(last.header).toEqual(done(parseProxyHeader(bytes)).header);
    // Finished: the same answer, whatever comes.
    expect(parser.push(ascii('more'))).toBe(last);
    expect(parser.buffered).toBe(0);
  });

  it('holds at most 106 bytes of a v1 line and refuses garbage that never ends', () => {
    const parser = createProxyHeaderParser();
    let result = parser.push(ascii('PROXY '));
    let held = 0;
    for (let i = 0; i < 10_000 && result.status === 'incomplete'; i++) {
      result = parser.push(ascii('x'));
      held = Math.max(held, parser.buffered);
    }
    expect(codeOf(result)).toBe(Code.V1_TOO_LONG);
    expect(held).toBeLessThanOrEqual(106);
    expect(parser.buffered).toBe(0);
  });

  it('holds nothing of a v2 header that announces more than allowed', () => {
    const parser = createProxyHeaderParser({ maxHeaderBytes: 512 });
    const head = Buffer.from(bytes.subarray(0, 16));
    head.writeUInt16BE(0xffff, 14);
    expect(codeOf(parser.push(head))).toBe(Code.TOO_LARGE);
    expect(parser.buffered).toBe(0);
    expect(codeOf(parser.push(Buffer.alloc(70_000)))).toBe(Code.TOO_LARGE);
  });

  it('keeps its own copy of what it holds, so a reused read buffer cannot change the header', () => {
    const parser = createProxyHeaderParser();
    const chunk = Buffer.from(bytes.subarray(0, 20));
    parser.push(chunk);
    chunk.fill(0);
    const result = parser.push(bytes.subarray(20));
    expect(result.status).toBe('done');
  });
});
