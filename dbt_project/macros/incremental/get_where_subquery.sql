{#-
  The rows a data test reads (overrides dbt's get_where_subquery). The tests of an
  incremental offline_events read only its incremental window (event_time from the newest
  event built minus incremental_lookback_days on): the rows this build replaced, so a daily
  build does not test all history again. On a full build (--full-refresh) or with var
  test_all_rows: true they read every row. A test's own `where:` config still applies.
-#}
{% macro get_where_subquery(relation) -%}
  {%- set where = config.get('where', '') -%}
  {%- set conditions = [where] if where else [] -%}
  {%- if relation.identifier == 'offline_events'
        and var('offline_events_materialization', 'incremental') == 'incremental'
        and not flags.FULL_REFRESH and not var('test_all_rows', false) -%}
    {%- if target.type == 'bigquery' -%}
      {#- a constant from as_of, so the tests prune partitions (a subquery would not) -#}
      {%- do conditions.append("event_time >= " ~ epoch_seconds(timestamp_minus_days(as_of_timestamp(), incremental_lookback_days() + 1))) -%}
    {%- else -%}
      {%- do conditions.append("event_time >= (select max(event_time) from " ~ relation ~ ") - "
                               ~ (incremental_lookback_days() * 86400)) -%}
    {%- endif -%}
  {%- endif -%}
  {%- if conditions -%}
    {%- set filtered -%}
      (select * from {{ relation }} where {{ conditions | map('string') | join(' and ') }}) dbt_subquery
    {%- endset -%}
    {{ return(filtered) }}
  {%- else -%}
    {{ return(relation) }}
  {%- endif -%}
{%- endmacro %}
