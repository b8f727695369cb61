# Eddy's single binary in a small image. Build and run (docs/operations.md):
#
#   docker build -t eddy .
#   docker run --rm -p 9092:9092 -v eddy-data:/var/lib/eddy eddy
#
# Any eddy command can replace the default one: docker run --rm eddy --help

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
WORKDIR /src
# Modules first, so that a change to the code does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# A static binary (every dependency is pure Go), so it runs on any base image.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/eddy ./cmd/eddy

FROM alpine:3.22
RUN addgroup -S eddy && adduser -S -G eddy -H -h /var/lib/eddy eddy \
    && mkdir -p /var/lib/eddy && chown eddy:eddy /var/lib/eddy
COPY --from=build /out/eddy /usr/local/bin/eddy
USER eddy
WORKDIR /var/lib/eddy
VOLUME /var/lib/eddy
EXPOSE 9092
ENTRYPOINT ["eddy"]
CMD ["broker", "--data-dir", "/var/lib/eddy", "--listen", "0.0.0.0:9092", "--advertised-listener", "localhost:9092"]
