{#-
  Nothing this project builds may land next to its source tables: run at the start of every
  run and build (on-run-start, dbt_project.yml), here and in a project that installs this one
  as a package, where dbt ignores a package's generate_schema_name (and so its guard). Fails
  when a model or seed of this package would be built in the source's database and schema.
-#}
{% macro assert_not_in_source_schema() -%}
  {%- if execute -%}
    {%- set sources = graph.sources.values() | selectattr('package_name', 'equalto', 'capi_offline_events') | list -%}
    {%- for source_node in sources[:1] -%}
      {%- for node in graph.nodes.values() -%}
        {%- if node.package_name == 'capi_offline_events' and node.resource_type in ('model', 'seed', 'snapshot')
              and (node.schema | lower) == (source_node.schema | lower)
              and ((node.database or '') | lower) == ((source_node.database or '') | lower) -%}
          {{ exceptions.raise_compiler_error(
              "capi_offline_events: " ~ node.resource_type ~ " " ~ node.name ~ " would be built in "
              ~ source_node.database ~ "." ~ source_node.schema ~ ", the schema of the source tables: "
              ~ "dbt must never write next to them. Build into another schema (profiles.yml), or set "
              ~ "the var amperity_schema (and amperity_database) to where the source tables are.") }}
        {%- endif -%}
      {%- endfor -%}
    {%- endfor -%}
  {%- endif -%}
{%- endmacro %}
