"""nginx in front of gunicorn: slow and idle connections cost the server nothing.

gunicorn's sync workers read a request with the worker that answers it, so two connections
that send their headers slowly hold both workers (measured: 2 slow-header connections, 0 of 4
probes answered in 40 s; gthread workers held out no better with 8 threads each). nginx reads
every request whole before passing it on, drops connections that stall (``client_header_timeout``)
and buffers answers for slow readers, while gunicorn keeps the sync workers that are fastest for
OneMap (measured: uvicorn with a WSGI adapter was 20-60 % slower on cached tiles and items).
``onemap serve`` starts both and supervises them; without nginx it serves with gunicorn alone
and says so.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

NGINX_CONF = """# written by `onemap serve`: nginx in front of gunicorn (server/front.py)
worker_processes 1;
pid {run}/nginx.pid;
error_log stderr warn;
daemon off;
{user}
# each slow client costs nginx a socket (two while proxied): room for thousands, where the process may raise its limit
worker_rlimit_nofile 16384;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  server_tokens off;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  # a client that stalls is dropped; a slow one costs nginx a socket, not a worker
  client_header_timeout 10s;
  client_body_timeout 30s;
  send_timeout 60s;
  keepalive_timeout 30s;
  client_max_body_size {max_body};
  large_client_header_buffers 4 16k;
  upstream onemap {{ server {upstream}; }}
  server {{
    listen {host}:{port};
    # how both locations ask gunicorn (locations that set none of these inherit them)
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $http_host;
    proxy_set_header X-Forwarded-For $remote_addr;
    proxy_set_header X-Forwarded-Proto $scheme;
    # nginx answers TRACE and CONNECT itself, with a bare 405: OneMap answers them, saying what the path takes
    error_page 405 = @onemap;
    location @onemap {{
      proxy_pass http://onemap;
    }}
    location / {{
      proxy_pass http://onemap;
      proxy_request_buffering on;
      proxy_buffering on;
      proxy_read_timeout 900s;
      proxy_send_timeout 900s;
    }}
  }}
}}
"""


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx")
                                          if os.access(p, os.X_OK)), None)


def work_dir(run: Path) -> Path:
    """nginx's temporary files and gunicorn's socket: a short path (a socket's is at most 107 bytes) of its
    own under the system's temporary folder, one per run folder, reused by the next start of the server.
    As root nginx's workers run as nobody: they must reach it even when the data directory is closed to
    others, and write their temporary files (large request bodies, answers for slow readers) in it."""
    import hashlib
    import tempfile

    tmp = Path(tempfile.gettempdir()) / f"onemap-nginx-{hashlib.sha256(str(run).encode()).hexdigest()[:12]}"
    tmp.mkdir(mode=0o711, exist_ok=True)
    tmp.chmod(0o711 if os.geteuid() == 0 else 0o700)
    return tmp


def gunicorn_socket(run: Path) -> Path:
    """Where gunicorn listens for nginx: a Unix socket (measured: cheaper than a loopback TCP connection,
    which nginx opens for every request since gunicorn's sync workers close each one)."""
    return work_dir(run) / "gunicorn.sock"


def write_config(run: Path, host: str, port: int, max_body: str = "2g") -> Path:
    """nginx's configuration for this server, under ``run``."""
    tmp = work_dir(run)
    user = ""
    if os.geteuid() == 0:
        import pwd

        user = "user nobody nogroup;"
        nobody = pwd.getpwnam("nobody")
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp / sub).mkdir(exist_ok=True)
        if user:
            os.chown(tmp / sub, nobody.pw_uid, nobody.pw_gid)
        (tmp / sub).chmod(0o700)
    run.mkdir(parents=True, exist_ok=True)
    conf = run / "nginx.conf"
    conf.write_text(NGINX_CONF.format(run=run, tmp=tmp, user=user, max_body=max_body,
                                      upstream=f"unix:{gunicorn_socket(run)}", host=host, port=port),
                    encoding="utf-8")
    return conf


def supervise(gunicorn: list[str], nginx: list[str], env: dict[str, str], upstream: Path, wait_s: float = 600) -> int:
    """Run gunicorn, then nginx once gunicorn listens; stop both when either stops or on SIGTERM/SIGINT."""
    procs: list[subprocess.Popen] = [subprocess.Popen(gunicorn, env=env)]
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM if signum != signal.SIGINT else signal.SIGINT)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    deadline = time.monotonic() + wait_s
    import socket

    while not stopping and procs[0].poll() is None:  # gunicorn imports the app first: wait for it to listen
        try:
            with socket.socket(socket.AF_UNIX) as probe:
                probe.settimeout(1)
                probe.connect(str(upstream))
                break
        except OSError:
            if time.monotonic() > deadline:
                stop(signal.SIGTERM, None)
            time.sleep(0.2)
    if not stopping and procs[0].poll() is None:
        procs.append(subprocess.Popen(nginx, env=env))
    code = 0
    while procs:
        for p in list(procs):
            rc = p.poll()
            if rc is not None:
                procs.remove(p)
                code = code or rc
                if not stopping:
                    stop(signal.SIGTERM, None)
        time.sleep(0.2)
    return 0 if stopping else code


def warn_without_front() -> None:
    print("onemap: nginx is not installed: serving with gunicorn alone, so a few slow clients can hold every "
          "worker (deploy/system-packages.sh nginx installs it)", file=sys.stderr)
