import logging

from wizard.logsafe import RedactingFormatter, redact

SECRETS = [
    "glrt-t1_AbCdEf0123456789xyz",
    "glrtr-ZyXwVu9876543210",
    "acme-glrt-QwErTy123456",
    "glpat-0123456789abcdefABCD",
    "GR1348941aBcDeFgHiJkLmN",
]


def test_known_token_shapes_are_redacted():
    for s in SECRETS:
        line = f"Verifying runner... token={s} status=403"
        out = redact(line)
        assert s not in out and "[REDACTED]" in out


def test_header_and_flag_forms():
    assert "hunter2" not in redact("PRIVATE-TOKEN: hunter2")
    assert "abc.def" not in redact("Authorization: Bearer abc.def")
    assert "s3cret" not in redact("register --token s3cret --url https://x")
    assert "pw1" not in redact('{"password": "pw1"}')


def test_known_values_redacted_and_text_kept():
    out = redact("user alice logged in with Tr0ub4dor", extra=["Tr0ub4dor"])
    assert out == "user alice logged in with [REDACTED]"


def test_log_formatter_redacts(tmp_path):
    rec = logging.LogRecord("wizard", logging.INFO, __file__, 1, "token=%s", ("glrt-abcdefgh1234",), None)
    assert "glrt-abcdefgh1234" not in RedactingFormatter("%(message)s").format(rec)
