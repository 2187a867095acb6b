# Placeholder: the multi-stage image arrives with the deployment issue (#9).
FROM debian:bookworm-slim
