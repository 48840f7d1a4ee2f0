{#-
  Nothing this project builds may land next to its source tables, here and in a project that
  installs it as a package (whose generate_schema_name then names our schemas too). Runs as
  on-run-start (dbt_project.yml), so run, build, seed, snapshot and test stop before any node:
  fails with one line when a model, seed or snapshot of this project would be built in the
  database and schema of the amperity source. Also refuses the old var name source_schema.
-#}
{% macro assert_not_in_source_schema() -%}
  {%- if execute -%}
    {%- if project_name == 'capi_offline_events' and var('source_schema', none) is not none -%}
      {{ exceptions.raise_compiler_error(
          "capi_offline_events: var source_schema is now amperity_schema (with amperity_database and "
          ~ "amperity_<table>_identifier, docs/warehouse.md, Vars): pass --vars '{amperity_schema: "
          ~ var('source_schema') ~ "}'.") }}
    {%- endif -%}
    {%- set sources = graph.sources.values() | selectattr('package_name', 'equalto', 'capi_offline_events') | list -%}
    {%- for source_node in sources[:1] -%}
      {%- for node in graph.nodes.values() -%}
        {%- if node.package_name == 'capi_offline_events' and node.resource_type in ('model', 'seed', 'snapshot')
              and node.config.materialized != 'ephemeral'
              and (node.schema | lower) == (source_node.schema | lower)
              and ((node.database or '') | lower) == ((source_node.database or '') | lower) -%}
          {{ exceptions.raise_compiler_error(
              "capi_offline_events: " ~ node.resource_type ~ " " ~ node.name ~ " would be built in "
              ~ source_node.database ~ "." ~ source_node.schema ~ ", the schema of the source tables: "
              ~ "dbt must never write next to them. Build into another schema (the target's schema, or "
              ~ "+schema of capi_offline_events), or set the vars amperity_database and amperity_schema "
              ~ "to where the source tables are.") }}
        {%- endif -%}
      {%- endfor -%}
    {%- endfor -%}
  {%- endif -%}
{%- endmacro %}
