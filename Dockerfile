# Release build of the single `qrsaas` binary; migrations are embedded in it.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin qrsaas

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* && useradd --system --home /app qrsaas
WORKDIR /app
COPY --from=build /src/target/release/qrsaas /usr/local/bin/qrsaas
RUN mkdir -p /app/uploads && chown qrsaas /app/uploads
USER qrsaas
EXPOSE 8080
ENTRYPOINT ["qrsaas"]
CMD ["all"]
