"""corolib.ssl as a drop-in for the stdlib ssl module: names, classes, factories, patching."""

from __future__ import annotations

import ssl as std_ssl
import sys
import warnings

import pytest

import corolib.socket
import corolib.ssl as cssl


def test_every_public_stdlib_name_is_here_and_unchanged() -> None:
    public = [name for name in vars(std_ssl) if not name.startswith("_")]
    assert sorted(cssl.__all__) == sorted(public)
    for name in public:
        if name in cssl._REPLACED:
            continue
        assert getattr(cssl, name) is getattr(std_ssl, name), name
    for name in (
        "SSLError", "SSLWantReadError", "SSLWantWriteError", "SSLEOFError",
        "SSLCertVerificationError", "SSLZeroReturnError", "SSLObject", "MemoryBIO",
        "Purpose", "TLSVersion", "CERT_REQUIRED", "PROTOCOL_TLS_CLIENT", "OPENSSL_VERSION",
        "DER_cert_to_PEM_cert", "cert_time_to_seconds", "get_default_verify_paths",
    ):  # fmt: skip
        assert getattr(cssl, name) is getattr(std_ssl, name), name
    with pytest.raises(AttributeError):
        cssl.no_such_name  # noqa: B018


def test_replaced_names() -> None:
    assert cssl.socket is corolib.socket.socket
    assert cssl.create_connection is corolib.socket.create_connection
    assert cssl.SSLContext is not std_ssl.SSLContext
    assert cssl.SSLSocket is not std_ssl.SSLSocket
    assert cssl._create_stdlib_context is cssl._create_unverified_context
    assert cssl._create_default_https_context is cssl.create_default_context
    assert ("wrap_socket" in cssl.__all__) == hasattr(std_ssl, "wrap_socket")


def test_class_relations() -> None:
    assert issubclass(cssl.SSLContext, std_ssl.SSLContext)
    assert cssl.SSLContext.sslsocket_class is cssl.SSLSocket
    assert cssl.SSLContext.sslobject_class is std_ssl.SSLObject
    assert std_ssl.SSLContext.sslsocket_class is std_ssl.SSLSocket  # untouched
    assert issubclass(cssl.SSLSocket, corolib.socket.socket)
    assert issubclass(cssl.SSLSocket, std_ssl.socket)  # the stdlib socket.socket
    assert not issubclass(cssl.SSLSocket, std_ssl.SSLSocket)
    with pytest.raises(TypeError, match="does not have a public constructor"):
        cssl.SSLSocket()
    stdlib_methods = {n for n in vars(std_ssl.SSLSocket) if not n.startswith("__")}
    missing = {n for n in stdlib_methods if not hasattr(cssl.SSLSocket, n)}
    assert not missing
    for name in ("sendmsg", "recvmsg", "recvmsg_into", "dup"):
        assert name in vars(cssl.SSLSocket)


def test_wrap_bio_is_the_stdlib_one() -> None:
    ctx = cssl.SSLContext(cssl.PROTOCOL_TLS_CLIENT)
    obj = ctx.wrap_bio(std_ssl.MemoryBIO(), std_ssl.MemoryBIO(), server_hostname="localhost")
    assert type(obj) is std_ssl.SSLObject
    assert obj.server_hostname == "localhost"
    with pytest.raises(std_ssl.SSLWantReadError):
        obj.do_handshake()


def _settings(ctx: std_ssl.SSLContext) -> dict:
    return {
        "protocol": ctx.protocol,
        "options": ctx.options,
        "verify_mode": ctx.verify_mode,
        "verify_flags": ctx.verify_flags,
        "check_hostname": ctx.check_hostname,
        "minimum_version": ctx.minimum_version,
        "maximum_version": ctx.maximum_version,
        "post_handshake_auth": ctx.post_handshake_auth,
        "ciphers": [c["name"] for c in ctx.get_ciphers()],
        "ca_certs": ctx.get_ca_certs(),
    }


@pytest.mark.parametrize("purpose", ["SERVER_AUTH", "CLIENT_AUTH"])
def test_create_default_context_matches_the_stdlib(purpose: str, certs) -> None:
    p = getattr(std_ssl.Purpose, purpose)
    ours = cssl.create_default_context(p, cafile=certs.ca)
    theirs = std_ssl.create_default_context(p, cafile=certs.ca)
    assert type(ours) is cssl.SSLContext
    assert _settings(ours) == _settings(theirs)
    with pytest.raises(TypeError):
        cssl.create_default_context("not a purpose")


def test_unverified_context_matches_the_stdlib() -> None:
    ours = cssl._create_unverified_context()
    theirs = std_ssl._create_unverified_context()
    assert type(ours) is cssl.SSLContext
    assert _settings(ours) == _settings(theirs)
    ours = cssl._create_stdlib_context(cert_reqs=std_ssl.CERT_REQUIRED)
    assert type(ours) is cssl.SSLContext and ours.verify_mode == std_ssl.CERT_REQUIRED


@pytest.mark.skipif(not hasattr(std_ssl, "wrap_socket"), reason="ssl.wrap_socket is gone (3.12+)")
def test_deprecated_module_wrap_socket() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tls = cssl.wrap_socket(corolib.socket.socket())
    assert any("wrap_socket() is deprecated" in str(w.message) for w in caught)
    with tls:
        assert type(tls) is cssl.SSLSocket
        assert type(tls.context) is cssl.SSLContext


def test_context_properties_work() -> None:
    ctx = cssl.SSLContext(cssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = std_ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = std_ssl.TLSVersion.TLSv1_3
    ctx.options |= std_ssl.OP_NO_TICKET
    ctx.verify_flags |= std_ssl.VERIFY_X509_STRICT
    ctx.check_hostname = False
    ctx.verify_mode = std_ssl.CERT_OPTIONAL
    assert ctx.minimum_version is std_ssl.TLSVersion.TLSv1_2
    assert ctx.maximum_version is std_ssl.TLSVersion.TLSv1_3
    assert ctx.options & std_ssl.OP_NO_TICKET and isinstance(ctx.options, std_ssl.Options)
    assert ctx.verify_flags & std_ssl.VERIFY_X509_STRICT
    assert ctx.verify_mode is std_ssl.CERT_OPTIONAL
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx2 = cssl.SSLContext(cssl.PROTOCOL_TLS)
        ctx2.minimum_version = std_ssl.TLSVersion.SSLv3  # the stdlib's special case
    assert not ctx2.options & std_ssl.OP_NO_SSLv3


def test_patching_the_stdlib_module_is_safe(run_python) -> None:
    # With ssl.SSLContext replaced, the stdlib's own property setters would
    # recurse (super(SSLContext, SSLContext) finds corolib's class): ours must not.
    run_python(
        """
        import ssl, corolib.ssl, corolib.socket, sys
        original = ssl.SSLContext
        early = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # made before patching
        for name in corolib.ssl._REPLACED:
            if hasattr(corolib.ssl, name):
                setattr(ssl, name, getattr(corolib.ssl, name))
        ctx = ssl.create_default_context()  # the stdlib function, building ours
        assert type(ctx) is corolib.ssl.SSLContext, type(ctx)
        ctx.options |= ssl.OP_NO_TICKET
        ctx.verify_flags |= ssl.VERIFY_X509_STRICT
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.maximum_version = ssl.TLSVersion.TLSv1_3
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx._msg_callback = lambda *args: None
        ctx._msg_callback = None
        assert ctx.minimum_version is ssl.TLSVersion.TLSv1_2
        # The stdlib class's own setters now recurse ...
        try:
            early.verify_mode = ssl.CERT_REQUIRED
        except RecursionError:
            pass
        else:
            raise AssertionError("expected the stdlib's RecursionError")
        # ... unless a patcher binds them to the original class too.
        corolib.ssl._bind_context_properties(original)
        early.options |= ssl.OP_NO_TICKET
        early.minimum_version = ssl.TLSVersion.TLSv1_2
        early.verify_mode = ssl.CERT_REQUIRED
        assert early.verify_mode is ssl.CERT_REQUIRED
        ctx = ssl._create_unverified_context()
        assert type(ctx) is corolib.ssl.SSLContext
        with corolib.socket.socket() as s:
            with ctx.wrap_socket(s) as tls:
                assert isinstance(tls, ssl.SSLSocket)
        print("ok")
        """
    ).expect(stdout="ok\n")


def test_msg_callback_setter(certs) -> None:
    # _msg_callback's setter wraps the callback (stdlib code, rebound).
    ctx = cssl.SSLContext(cssl.PROTOCOL_TLS_CLIENT)
    seen = []
    ctx._msg_callback = lambda *args: seen.append(args)
    assert ctx._msg_callback is not None
    ctx._msg_callback = None
    assert ctx._msg_callback is None


def test_module_docstring_states_switch_points() -> None:
    assert "Switch points" in cssl.__doc__
    assert sys.modules["corolib.ssl"] is cssl
