# syntax=docker/dockerfile:1
#
# Two images, one per component, each holding one static binary and
# nothing else (no shell, no package manager, no libc):
#
#   docker build --target controller -t hamon-controller .   # /usr/local/bin/manager (the default target)
#   docker build --target nodeagent  -t hamon-nodeagent  .   # /usr/local/bin/nodeagent
#
# The kubectl plugin is not in either image: it runs on people's machines.
#
# The controller runs as the unprivileged user 65532. The node agent's image
# runs as root because the agent's work needs it (SG_IO on the multipath
# slaves under /dev, reboot(2) with CAP_SYS_BOOT); what it may do is granted
# by its DaemonSet's securityContext, not by anything in this image.
#
# Cross-builds (docker buildx --platform linux/arm64,...) compile on the
# build machine's platform for the target's: no emulation, no cgo.

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY api/ api/
COPY controllers/ controllers/
COPY nodeagent/ nodeagent/
COPY cmd/ cmd/
ARG TARGETOS=linux TARGETARCH
ENV CGO_ENABLED=0 GOFLAGS=-trimpath
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH go build -ldflags "-s -w -buildid=" -o /out/manager ./cmd/manager && \
    GOOS=$TARGETOS GOARCH=$TARGETARCH go build -ldflags "-s -w -buildid=" -o /out/nodeagent ./cmd/nodeagent

# The node agent: the binary alone on an empty filesystem. It reaches the
# API server with its pod's projected service account token and CA, so it
# needs no CA bundle of its own.
FROM scratch AS nodeagent
COPY --from=build /out/nodeagent /usr/local/bin/nodeagent
USER 0:0
ENTRYPOINT ["/usr/local/bin/nodeagent"]

# The controller: distroless static, non-root (uid/gid 65532, /etc/passwd,
# CA certificates, tzdata; no shell).
FROM gcr.io/distroless/static-debian12:nonroot AS controller
COPY --from=build /out/manager /usr/local/bin/manager
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/manager"]
