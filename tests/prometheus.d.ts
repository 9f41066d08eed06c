/** The types of `parse-prometheus-text-format` (a test dependency that ships none). */
declare module "parse-prometheus-text-format" {
  /** One metric family, as prom2json writes it. */
  export interface MetricFamily {
    name: string;
    help: string;
    type: "COUNTER" | "GAUGE" | "SUMMARY" | "HISTOGRAM" | "UNTYPED";
    metrics: { value: string; labels?: Record<string, string> }[];
  }
  /** Parses Prometheus's text exposition format; throws on what it cannot parse. */
  export default function parsePrometheusTextFormat(text: string): MetricFamily[];
}
