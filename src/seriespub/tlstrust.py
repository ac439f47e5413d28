"""What to do about a server certificate that was not trusted: the hint for SMTP and IMAP.

OpenSSL names what it refused (`ssl.SSLCertVerificationError.verify_code`, `verify_message`),
and whether the table's `ca_file` is set decides what helps:
- a chain that ends at no CA we trust: set `ca_file` (not set yet), or put the CA that
  signed the server's certificate in it (set, but holding another CA);
- a chain refused for what it is (Python 3.13's default context checks RFC 5280 strictly:
  "Missing Authority Key Identifier"), expired, or for another host name: no CA helps, and
  the hint never says to set `ca_file`; it repeats OpenSSL's reason and what fixes it.
"""

from __future__ import annotations

import ssl

# OpenSSL's X509_V_ERR_* codes for a chain that ends at no trusted CA: UNABLE_TO_GET_ISSUER_
# CERT, DEPTH_ZERO_SELF_SIGNED_CERT, SELF_SIGNED_CERT_IN_CHAIN, UNABLE_TO_GET_ISSUER_CERT_
# LOCALLY, UNABLE_TO_VERIFY_LEAF_SIGNATURE.
_NO_TRUSTED_ISSUER = frozenset({2, 18, 19, 20, 21})
_OUT_OF_DATES = frozenset({9, 10})  # CERT_NOT_YET_VALID, CERT_HAS_EXPIRED
_HOSTNAME_MISMATCH = 62


def untrusted_hint(exc: ssl.SSLCertVerificationError, table: str, ca_file: str | None) -> str:
    """The hint for `exc`, raised while connecting with the settings of `[table]`."""
    code = exc.verify_code
    if code == _HOSTNAME_MISMATCH:
        return f"the certificate names another host: set {table}.host to a name it holds"
    if code in _OUT_OF_DATES:
        return (
            "the server's certificate is outside its dates: check this machine's clock, "
            "or ask the server's administrator to renew it"
        )
    if code in _NO_TRUSTED_ISSUER:
        if ca_file is None:
            return (
                "if the server's certificate comes from a private CA, "
                f'set ca_file = "ca.pem" under [{table}]'
            )
        return (
            f"{table}.ca_file ({ca_file}) does not hold the CA that signed the server's "
            "certificate: put that CA's certificate (PEM) in it"
        )
    return _refused_chain_hint(exc.verify_message, table, ca_file)


def _refused_chain_hint(reason: str, table: str, ca_file: str | None) -> str:
    """A chain OpenSSL refused for what it is: trusting its CA (again) does not help."""
    trusted = f"{table}.ca_file ({ca_file}) is set, but " if ca_file else ""
    fix = (
        "reissue the CA and the server's certificate with key identifiers "
        "(subjectKeyIdentifier, authorityKeyIdentifier)"
        if "key identifier" in reason.lower()
        else "reissue the certificate as RFC 5280 asks"
    )
    return (
        f"{trusted}OpenSSL refused the server's certificate or its CA ({reason}); Python 3.13 "
        f"and later check certificates strictly (RFC 5280): {fix}"
    )
