{#-
  The rows a data test reads (overrides dbt's get_where_subquery). When offline_events is
  incremental, a build's data tests read only its incremental window (event_time from the
  newest event built minus incremental_lookback_days on), so a daily build does not test all
  history again:
    - offline_events: its rows in the window;
    - offline_events__match_key_coverage_daily: the days of the window;
    - int_orders__summarized, int_orders__contents (views): the same SQL on the window's lines.
  On BigQuery the window starts at as_of minus incremental_lookback_days + 1 day, a constant
  that prunes partitions. A --full-refresh build, var test_all_rows: true, or another
  materialization tests every row. A test's own `where:` config still applies.
-#}
{% macro get_where_subquery(relation) -%}
  {%- set where = config.get('where', '') -%}
  {%- set start = daily_test_window_start(relation) -%}
  {%- set name = relation.identifier -%}
  {%- if start is not none and name in ('int_orders__summarized', 'int_orders__contents') -%}
    {%- set lines = api.Relation.create(database=relation.database, schema=relation.schema,
                                        identifier='int_order_lines__eligible') -%}
    {%- set window_lines -%}
      (select * from {{ lines }} where order_datetime >= {{ start_timestamp(start) }}) as window_lines
    {%- endset -%}
    {%- set body = summarize_order_lines(window_lines) if name == 'int_orders__summarized' else order_contents(window_lines) -%}
    {{ return("(select * from (" ~ body ~ ") as window_orders" ~ (" where " ~ where if where else "") ~ ") dbt_subquery") }}
  {%- endif -%}
  {%- set conditions = [where] if where else [] -%}
  {%- if start is not none and name == 'offline_events' -%}
    {%- do conditions.append("event_time >= " ~ start) -%}
  {%- elif start is not none and name == 'offline_events__match_key_coverage_daily' -%}
    {%- do conditions.append("event_date >= " ~ utc_date_of_epoch_seconds(start)) -%}
  {%- endif -%}
  {%- if conditions -%}
    {{ return("(select * from " ~ relation ~ " where " ~ (conditions | map('string') | join(' and ')) ~ ") dbt_subquery") }}
  {%- else -%}
    {{ return(relation) }}
  {%- endif -%}
{%- endmacro %}


{#- The first event_time (SQL) a data test of the daily build reads, or none (test all rows). -#}
{% macro daily_test_window_start(relation) -%}
  {%- if not execute or flags.FULL_REFRESH or var('test_all_rows', false)
        or var('offline_events_materialization', 'incremental') != 'incremental'
        or relation.identifier not in ('offline_events', 'offline_events__match_key_coverage_daily',
                                       'int_orders__summarized', 'int_orders__contents') -%}
    {{ return(none) }}
  {%- endif -%}
  {%- if target.type == 'bigquery' -%}
    {{ return(epoch_seconds(timestamp_minus_days(as_of_timestamp(), incremental_lookback_days() + 1))) }}
  {%- endif -%}
  {%- set events = adapter.get_relation(database=relation.database, schema=relation.schema, identifier='offline_events') -%}
  {%- if events is none or events.is_view -%}{{ return(none) }}{%- endif -%}
  {%- set newest = run_query(offline_events_newest_sql(events)).columns[0].values()[0] -%}
  {{ return(none if newest is none else (newest | int) - incremental_lookback_days() * 86400) }}
{%- endmacro %}


{#- A window start (epoch seconds, a literal or a SQL expression) as a timestamp comparable with order_datetime. -#}
{% macro start_timestamp(start) -%}
  {%- if start is number -%}{{ epoch_to_timestamp_literal(start) }}
  {%- else -%}timestamp_seconds({{ start }}){%- endif -%}
{%- endmacro %}
