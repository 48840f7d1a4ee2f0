-- Per UTC day of event_time: how many eligible events offline_events holds and the share
-- of them carrying each match key (for BI tools; the sync's report shows what was sent).
with events as (

    select * from {{ ref('offline_events') }}

),

daily as (

    select
        {{ utc_date_of_epoch_seconds('event_time') }} as event_date,
        count(*) as events,
        {%- for key in ['em', 'ph', 'fn', 'ln', 'db', 'ge', 'ct', 'st', 'zp', 'country', 'external_id'] %}
        count({{ key }}) / count(*) as {{ key }}_coverage{{ "," if not loop.last }}
        {%- endfor %}
    from events
    group by 1

)

select * from daily
