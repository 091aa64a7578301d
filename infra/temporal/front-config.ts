// The nginx configuration of Temporal's TLS front (docs/temporal-tls.md). The dev server speaks
// no TLS, so nginx terminates it: it refuses every request whose client certificate was not
// issued by the cluster CA, and passes the rest, as gRPC over HTTP/2, to the dev server's
// plaintext port on 127.0.0.1. Pure: the service writes what this returns.

export interface FrontSettings {
  /** Where clients reach the front (cfg.bindHost, cfg.temporal.port). */
  listenHost: string;
  listenPort: number;
  /** The dev server's plaintext port, on 127.0.0.1. */
  backendPort: number;
  /**
   * The front's own certificate and key, and the cluster CA that client certificates must chain
   * to; absent (security off, a lab's bridge) the front passes plaintext gRPC.
   */
  tls?: { certPath: string; keyPath: string; caPath: string };
  /** nginx's pid file and its (unused) temp dirs. */
  workDir: string;
}

// A quoted nginx string: a path with a space or ';' must not end the directive.
const q = (s: string) => `"${s.replace(/(["\\$])/g, '\\$1')}"`;

function tlsListen(s: FrontSettings, tls: NonNullable<FrontSettings['tls']>): string {
  return `    listen ${s.listenHost}:${s.listenPort} ssl http2;

    ssl_certificate ${q(tls.certPath)};
    ssl_certificate_key ${q(tls.keyPath)};
    ssl_protocols TLSv1.2 TLSv1.3;
    # Mutual TLS: a client must present a certificate the cluster CA issued (directly: depth 1).
    # One without, or with another CA's, gets HTTP 400 and its request never reaches the server.
    ssl_client_certificate ${q(tls.caPath)};
    ssl_verify_client on;
    ssl_verify_depth 1;
`;
}

export function frontConfig(s: FrontSettings): string {
  const temp = (name: string) => q(`${s.workDir}/${name}`);
  return `# Written by ferry at each start of the Temporal TLS front; edits are overwritten.
daemon off;
worker_processes 1;
pid ${q(`${s.workDir}/nginx.pid`)};
error_log stderr warn;
events { worker_connections 4096; }

http {
  access_log off;
  # gRPC requests are never buffered to disk, but nginx makes these at start: keep them ours.
  client_body_temp_path ${temp('client_body')};
  proxy_temp_path ${temp('proxy')};
  fastcgi_temp_path ${temp('fastcgi')};
  uwsgi_temp_path ${temp('uwsgi')};
  scgi_temp_path ${temp('scgi')};

  # Roles that need less than an operator (docs/temporal-tls.md "Roles"): the cluster CA puts the
  # role in the certificate's OU. Hosts run their queue's activities and workflows, signal and
  # describe; controllers run the control queue. Neither starts, ends or deletes workflows from
  # outside a workflow, nor administers namespaces, schedules or the cluster.
  map $ssl_client_s_dn $ferry_role {
    default "";
    "~(^|,)OU=host(,|$)" host;
    "~(^|,)OU=controller(,|$)" controller;
  }
  map "$ferry_role:$uri" $ferry_refused {
    default 0;
    "~^(host|controller):/temporal\\.api\\.operatorservice\\." 1;
    "~^(host|controller):/temporal\\.api\\.workflowservice\\.v1\\.WorkflowService/(RegisterNamespace|UpdateNamespace|DeprecateNamespace|DeleteWorkflowExecution|ResetWorkflowExecution|StartBatchOperation|StopBatchOperation|CreateSchedule|UpdateSchedule|PatchSchedule|DeleteSchedule)$" 1;
    "~^host:/temporal\\.api\\.workflowservice\\.v1\\.WorkflowService/(StartWorkflowExecution|SignalWithStartWorkflowExecution|ExecuteMultiOperation|TerminateWorkflowExecution|RequestCancelWorkflowExecution|UpdateWorkflowExecution)$" 1;
  }

  upstream temporal_backend {
    server 127.0.0.1:${s.backendPort};
    # Reused HTTP/2 connections to the dev server: without them every call pays a TCP connect.
    keepalive 32;
    keepalive_timeout 10m;
  }

  server {
${s.tls ? tlsListen(s, s.tls) : `    listen ${s.listenHost}:${s.listenPort} http2;\n`}
    # Workers long-poll for up to 70 s, and a client waiting on a workflow's result longer; an
    # idle connection (a worker between polls, a CLI's) is kept as long.
    keepalive_timeout 10m;
    http2_max_concurrent_streams 1024;
    client_max_body_size 0;
    client_body_timeout 10m;
    grpc_read_timeout 10m;
    grpc_send_timeout 10m;
    # Upstream headers and trailers: Temporal's failures carry details (grpc-status-details-bin).
    grpc_buffer_size 64k;

    location / {
      if ($ferry_refused) {
        return 403;
      }
      error_page 403 = @refused;
      grpc_pass grpc://temporal_backend;
      # nginx answers plain HTTP 502/504 when the server is down or restarting; clients get it as
      # gRPC UNAVAILABLE, the status they retry, with a message that says where it came from.
      error_page 502 503 504 = @unavailable;
    }

    location @refused {
      default_type application/grpc;
      add_header grpc-status 7 always;
      add_header grpc-message "$uri is not for a $ferry_role certificate (ferry TLS front)" always;
      return 204;
    }

    location @unavailable {
      default_type application/grpc;
      add_header grpc-status 14 always;
      add_header grpc-message "temporal dev server unavailable behind the ferry TLS front" always;
      return 204;
    }
  }
}
`;
}
