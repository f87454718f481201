"""Build the small busybox image the demo stack and the tests run (no registry needed).

The image is `FROM scratch` plus Debian's static busybox, so it gives `sh`, `httpd`, `nc`,
`wget` and `sleep` on a machine that cannot pull anything.
"""
from __future__ import annotations

import io
import tarfile
from pathlib import Path

import docker

BUSYBOX = Path("/bin/busybox")
DOCKERFILE = b"""FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
CMD ["sh"]
"""


def build_busybox_image(client: docker.DockerClient, tag: str, *,
                        labels: dict[str, str] | None = None, busybox: Path = BUSYBOX) -> str:
    """Build `tag` from the static busybox binary and return the image id."""
    if not busybox.is_file():
        raise FileNotFoundError(f"{busybox} not found; install Debian's busybox-static package")
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        _add(tar, "Dockerfile", DOCKERFILE, 0o644)
        _add(tar, "busybox", busybox.read_bytes(), 0o755)
    context.seek(0)
    image, _ = client.images.build(fileobj=context, custom_context=True, tag=tag,
                                   labels=labels or {}, rm=True, forcerm=True,
                                   network_mode="none")
    return image.id


def _add(tar: tarfile.TarFile, name: str, data: bytes, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    tar.addfile(info, io.BytesIO(data))
