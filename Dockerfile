# One image, three binaries: the controller (manager), the node agent and
# the kubectl plugin. Static, non-root where the binary allows it; the node
# agent runs privileged through its DaemonSet, not through this image.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY api/ api/
COPY controllers/ controllers/
COPY nodeagent/ nodeagent/
COPY cmd/ cmd/
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/ ./cmd/...

FROM gcr.io/distroless/static:nonroot
COPY --from=build /out/ /usr/local/bin/
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/manager"]
