"""An implementation of DSSE verification that is not krepro's: Python, with securesystemslib (Debian's
python3-securesystemslib 0.26) doing the signature check. securesystemslib 0.26 has no DSSE envelope class, so PAE
is computed here from DSSE's protocol.md; the key id is recomputed from its documented definition (SHA-256 of the
DER SubjectPublicKeyInfo) and securesystemslib checks it against the signature's.

Usage: python3 dsse_verify.py PUBLIC_KEY.pem FILE.intoto.jsonl
Prints one line per envelope; exit 0 when every envelope verifies, 1 otherwise.
"""
import base64
import binascii
import hashlib
import json
import sys

import securesystemslib.exceptions
import securesystemslib.keys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

PAYLOAD_TYPE = "application/vnd.in-toto+json"


def pae(payload_type: bytes, body: bytes) -> bytes:
    return b"DSSEv1 %d %s %d %s" % (len(payload_type), payload_type, len(body), body)


def b64decode(text: str) -> bytes:
    # DSSE allows standard and URL-safe base64.
    text += "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(text) if ("-" in text or "_" in text) else base64.b64decode(text, validate=True)


def sslib_key(pem: bytes) -> dict:
    public = serialization.load_pem_public_key(pem)
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    keyid = hashlib.sha256(der).hexdigest()
    if isinstance(public, ed25519.Ed25519PublicKey):
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"keyid": keyid, "keytype": "ed25519", "scheme": "ed25519", "keyval": {"public": raw.hex()}}
    if isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == "secp256r1":
        return {"keyid": keyid, "keytype": "ecdsa", "scheme": "ecdsa-sha2-nistp256", "keyval": {"public": pem.decode()}}
    raise SystemExit(f"unsupported key type: {type(public).__name__}")


def main() -> int:
    key = sslib_key(open(sys.argv[1], "rb").read())
    ok = True
    for number, line in enumerate(open(sys.argv[2], encoding="utf-8"), start=1):
        if not line.strip():
            continue
        envelope = json.loads(line)
        body = b64decode(envelope["payload"])
        if envelope["payloadType"] != PAYLOAD_TYPE:
            print(f"line {number}: rejected: payload type {envelope['payloadType']!r}")
            ok = False
            continue
        verified = False
        for signature in envelope["signatures"]:
            sig = {"keyid": signature.get("keyid", ""), "sig": binascii.hexlify(b64decode(signature["sig"])).decode()}
            try:
                verified = securesystemslib.keys.verify_signature(key, sig, pae(envelope["payloadType"].encode(), body))
            except securesystemslib.exceptions.Error as err:
                print(f"line {number}: securesystemslib: {type(err).__name__}: {err}")
            if verified:
                break
        statement = json.loads(body) if verified else None
        if verified and statement.get("_type") == "https://in-toto.io/Statement/v1":
            print(f"line {number}: verified by securesystemslib {securesystemslib.__version__}, key {key['keyid']} ({key['scheme']}), {len(statement['subject'])} subjects")
        else:
            print(f"line {number}: rejected: signature does not verify")
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
