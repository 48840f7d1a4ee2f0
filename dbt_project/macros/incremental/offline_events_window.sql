{#- var incremental_lookback_days as a whole number of days >= 0 (fails with a clear line). -#}
{% macro incremental_lookback_days() -%}
  {%- set days = var('incremental_lookback_days', 3) -%}
  {%- if days is string and days | trim is match('^[0-9]+$') -%}{%- set days = days | int -%}{%- endif -%}
  {%- if days is boolean or days is not number or days < 0 or days != days | int -%}
    {{ exceptions.raise_compiler_error("var incremental_lookback_days must be a whole number of days >= 0, got '" ~ days ~ "'") }}
  {%- endif -%}
  {{ return(days | int) }}
{%- endmacro %}


{#- On an incremental build of offline_events: the first event_time (unix seconds) it
    recomputes, i.e. the newest event_time already built minus incremental_lookback_days.
    none on a full build (no table yet, --full-refresh, an empty table) or at parse time. -#}
{% macro offline_events_window_start() -%}
  {%- if not execute or not is_incremental() -%}{{ return(none) }}{%- endif -%}
  {%- set newest = run_query(offline_events_newest_sql(this)).columns[0].values()[0] -%}
  {%- if newest is none -%}{{ return(none) }}{%- endif -%}
  {{ return((newest | int) - incremental_lookback_days() * 86400) }}
{%- endmacro %}


{#- The newest event_time of the built relation: a max over its event_time column
    (DuckDB answers it from row-group statistics; on BigQuery it reads 8 bytes per row,
    see docs/warehouse.md). -#}
{% macro offline_events_newest_sql(relation) -%}
  select max(event_time) from {{ relation }}
{%- endmacro %}


{#- The rows of the built offline_events an incremental build replaces (SQL predicates,
    evaluated on the relation before the change): those from the window start on, and
    those that have left the eligibility window (event_time at or before as_of minus
    lookback_days), which a full rebuild would not contain either. -#}
{% macro offline_events_replaced_rows() -%}
  {%- set window = "event_time >= (select max(event_time) from " ~ this ~ ") - " ~ (incremental_lookback_days() * 86400) -%}
  {{ return([window, offline_events_expired_rows('event_time')]) }}
{%- endmacro %}


{% macro offline_events_expired_rows(column) -%}
  {{ return(column ~ " <= " ~ epoch_seconds(timestamp_minus_days(as_of_timestamp(), var('lookback_days')))) }}
{%- endmacro %}


{#- BigQuery's pre-hook on an incremental build: delete the rows the build replaces (the
    merge after it then inserts the window). A MERGE ... WHEN MATCHED THEN DELETE rather than a
    DELETE, so it also runs on the emulator (which refuses DELETE); the window start is a
    literal and the conditions are on both sides, so it prunes partitions. Empty on a full build. -#}
{% macro offline_events_clear_window() -%}
  {%- set start = offline_events_window_start() -%}
  {%- if start is not none -%}
    {%- set replaced = "(event_time >= " ~ start ~ " or " ~ offline_events_expired_rows('event_time') ~ ")" -%}
    merge into {{ this }} as built
    using (select event_id from {{ this }} where {{ replaced }}) as replaced
    on built.event_id = replaced.event_id
       and (built.event_time >= {{ start }} or {{ offline_events_expired_rows('built.event_time') }})
    when matched then delete
  {%- endif -%}
{%- endmacro %}


{#- The window start as a timestamp literal comparable with order_datetime. -#}
{% macro epoch_to_timestamp_literal(seconds) -%}
  {{ timestamp_literal(modules.datetime.datetime.utcfromtimestamp(seconds | int).strftime('%Y-%m-%d %H:%M:%S')) }}
{%- endmacro %}
