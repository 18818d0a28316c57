"""The shared root over a network file system: `sshd` (openssh-server) exporting a directory from
one host of a `Net`, and `sshfs` (FUSE) mounting it on another host at the same path, as NFS
would be mounted at NFS_SHARE_ROOT_PATH on every host. Needs root, `/usr/sbin/sshd`, `sshfs`."""

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from deployments.processes import start, stop, tail, wait_for
from tests.multihost.support import Net, sh

SSHD = "/usr/sbin/sshd"
# Attribute and directory caching on, as an NFS client has it (acregmin 3 s, acdirmin 30 s):
# sshfs keeps stat results and listings 30 s, the kernel names and attributes 3 s.
CACHE_OPTIONS = "dir_cache=yes,dcache_timeout=30,attr_timeout=3,entry_timeout=3"


def require_tools() -> None:
    tools = (SSHD, "sshfs", "ssh-keygen", "socat", "nsenter", "mountpoint")
    missing = [t for t in tools if not shutil.which(t)]
    assert not missing, (
        f"the multi-host test needs {missing}: `make multihost-tools` installs them "
        "(apt-get install sshfs openssh-server socat)"
    )
    assert Path("/dev/fuse").exists(), "the multi-host test needs FUSE (/dev/fuse) for sshfs"


@dataclass
class SshExport:
    root: Path
    address: str
    port: int
    client_key: Path


@contextlib.contextmanager
def export_over_ssh(net: Net, host: str, root: Path, base: Path, port: int) -> Iterator[SshExport]:
    """sshd on `host` at `port`, with its own config, host key and one authorized (root) key,
    serving `root` by SFTP."""
    base.mkdir(parents=True)
    for key in ("host_key", "client_key"):
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(base / key))
    shutil.copy(base / "client_key.pub", base / "authorized_keys")
    address = net.hosts[host]
    config = base / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress {address}\nHostKey {base / 'host_key'}\n"
        f"AuthorizedKeysFile {base / 'authorized_keys'}\nPidFile {base / 'sshd.pid'}\n"
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
        "Subsystem sftp internal-sftp\nClientAliveInterval 2\nClientAliveCountMax 3\n"
    )
    # sshd insists on its privilege-separation folder, which the package's service would create.
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    log = base / "sshd.log"
    proc = start(net.exec(host, SSHD, "-D", "-e", "-f", str(config)), os.environ, log)

    def listening() -> bool:
        assert proc.poll() is None, f"sshd exited:\n{tail(log)}"
        return "Server listening" in log.read_text()

    try:
        wait_for(listening, 30, lambda: f"sshd did not start:\n{tail(log)}")
        yield SshExport(root, address, port, base / "client_key")
    finally:
        stop(proc)


def mount_command(export: SshExport, mountpoint: Path) -> list[str]:
    options = ",".join(
        [
            f"port={export.port}",
            f"IdentityFile={export.client_key}",
            "StrictHostKeyChecking=no",
            "UserKnownHostsFile=/dev/null",
            "BatchMode=yes",
            # A cut-off server is noticed in ~6 s: file calls then fail instead of hanging.
            "ServerAliveInterval=2",
            "ServerAliveCountMax=3",
            CACHE_OPTIONS,
        ]
    )
    return ["sshfs", "-f", f"root@{export.address}:{export.root}", str(mountpoint), "-o", options]


def mount(net: Net, host: str, export: SshExport, mountpoint: Path, log: Path) -> None:
    """Mount the export at `mountpoint` in `host`'s own mount namespace (`Net.own_mounts`): the
    mount is seen by that host's processes only, as a mount on a real host."""
    net.own_mounts(host)
    proc = net.start(host, mount_command(export, mountpoint), os.environ, log)

    def mounted() -> bool:
        assert proc.poll() is None, f"sshfs on {host} exited:\n{tail(log)}"
        check = subprocess.run(net.exec(host, "mountpoint", "-q", str(mountpoint)))
        return check.returncode == 0

    wait_for(mounted, 30, lambda: f"sshfs on {host} did not mount:\n{tail(log)}")
