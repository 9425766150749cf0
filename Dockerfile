# The project image for Celery workers and Kubernetes step pods: exactly what `make setup` installs
# (CPU torch from constraints-cpu.txt, the package with its dev and cluster extras), nothing more.
# For GPU nodes, build FROM an image whose torch has CUDA and drop the CPU constraint (docs/cluster.md).
FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends make && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/formclip
COPY . .
RUN make setup
# Every step pod starts from the image, so the environment's bytecode is compiled here once, not on
# each pod's first imports (about 11 s a process). A file that does not compile (a newer Python's
# syntax in torch's test helpers) is left alone, as pip leaves it; it fails only if something imports it.
RUN .venv/bin/python -m compileall -q -j 0 .venv/lib > /dev/null || true
# The code server, the run pods and the step pods run as a user of their own, not root: what the image
# installed stays read-only to them, and a flaw reached through the code server's port does not
# start with root in the container. The user's number is fixed, so a pod can require it
# (runAsNonRoot) and give it the shared FORMCLIP_HOME volume (fsGroup: deploy/values.yaml).
RUN useradd --uid 10001 --user-group --create-home --home-dir /home/formclip formclip \
    && mkdir -p /formclip && chown formclip:formclip /formclip
USER 10001:10001
ENV PATH=/opt/formclip/.venv/bin:$PATH \
    FORMCLIP_HOME=/formclip \
    HF_HUB_OFFLINE=0
# Every interface of the container: the pod's Service reaches the code server from outside it.
CMD ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", "3030", "-m", "formclip_pipeline.definitions"]
