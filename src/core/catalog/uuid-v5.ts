import { createHash } from "node:crypto";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A name-based UUID, version 5 (RFC 4122 section 4.3, RFC 9562 section 5.5): SHA-1 over the namespace's
 * 16 bytes followed by the name's UTF-8 bytes, truncated to 16 bytes, with the version (5) and variant
 * (10xx) bits set. The same namespace and name always give the same UUID.
 */
export function uuidV5(name: string, namespace: string): string {
  const bytes = createHash("sha1").update(namespaceBytes(namespace)).update(name, "utf8").digest().subarray(0, 16);
  bytes[6] = (bytes[6] & 0x0f) | 0x50;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

let lastNamespace: { text: string; bytes: Buffer } | undefined;

/** The namespace's 16 bytes; callers use one namespace over and over, so the last one is kept. */
function namespaceBytes(namespace: string): Buffer {
  if (lastNamespace?.text !== namespace) {
    if (!UUID.test(namespace)) {
      throw new TypeError(`uuidV5: namespace must be a UUID, got "${namespace}"`);
    }
    lastNamespace = { text: namespace, bytes: Buffer.from(namespace.replaceAll("-", ""), "hex") };
  }
  return lastNamespace.bytes;
}
