/**
 * A minimal nginx.conf for the cluster benchmark: nodes on this host, every path under
 * `prefix`, the upstream block in an included file. The shipped configuration is
 * deploy/nginx/nginx.conf (the cluster test runs traffic through that one).
 */
export function localNginxConfig(options: { prefix: string; upstreamFile: string; port: number }): string {
  const { prefix, upstreamFile, port } = options;
  return `worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${prefix}/client_body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  include ${upstreamFile};
  server {
    listen 127.0.0.1:${port};
    location = /lb-health { return 200 "OK"; }
    location / {
      proxy_pass http://pincer;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_connect_timeout 1s;
      proxy_buffering off;
      # POST /v1/messages is safe to resend: clients send an Idempotency-Key.
      proxy_next_upstream error timeout http_502 http_503 non_idempotent;
      proxy_next_upstream_tries 3;
    }
  }
}
`;
}
