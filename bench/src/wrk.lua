-- The wrk phase of hale-bench: posts the bench app's vitals submissions, each under an
-- Idempotency-Key of its own, and counts the answers by status. wrk runs `init` and
-- `request`/`response` in each of its threads, and `setup`/`done` in its main one; `done`
-- prints one line, "hale-bench-wrk {json}", which hale-bench parses.
--
-- Arguments (after `--`): submissions path, clinician token, app id, key prefix, and the
-- subject ids joined by commas.

local threads = {}
local started = 0

function setup(thread)
   started = started + 1
   thread:set("id", started)
   table.insert(threads, thread)
end

local symptoms = { "cough", "fever", "headache", "fatigue", "sore_throat" }

function init(args)
   path, token, app_id, prefix = args[1], args[2], args[3], args[4]
   subjects = {}
   for subject in string.gmatch(args[5], "[^,]+") do
      table.insert(subjects, subject)
   end
   sequence = 0
   created = 0
   not_created = 0
   last_other_status = 0
   math.randomseed(os.time() * 1000 + id)
end

-- The same spread as the bench's own client (`workload.rs`), inside the app's bounds.
function request()
   sequence = sequence + 1
   local systolic = math.random(95, 165)
   local diastolic = math.random(55, math.min(systolic - 25, 105))
   local chosen = {}
   for _, symptom in ipairs(symptoms) do
      if math.random(6) == 1 then
         table.insert(chosen, '"' .. symptom .. '"')
      end
   end
   local body = string.format(
      '{"subject_id":"%s","app_id":"%s","answers":{"heart_rate":%d,"spo2":%d,'
         .. '"body_temperature":%.1f,"systolic":%d,"diastolic":%d,"symptoms":[%s]}}',
      subjects[math.random(#subjects)], app_id, math.random(48, 130), math.random(88, 100),
      math.random(358, 392) / 10, systolic, diastolic, table.concat(chosen, ","))
   local headers = {
      ["Authorization"] = "Bearer " .. token,
      ["Content-Type"] = "application/json",
      ["Idempotency-Key"] = prefix .. id .. "-" .. sequence,
   }
   return wrk.format("POST", path, headers, body)
end

function response(status, headers, body)
   if status == 201 then
      created = created + 1
   else
      not_created = not_created + 1
      last_other_status = status
   end
end

function done(summary, latency, requests)
   local totals = { created = 0, not_created = 0, last_other_status = 0 }
   for _, thread in ipairs(threads) do
      totals.created = totals.created + thread:get("created")
      totals.not_created = totals.not_created + thread:get("not_created")
      local status = thread:get("last_other_status")
      if status ~= 0 then
         totals.last_other_status = status
      end
   end
   local errors = summary.errors
   io.write(string.format(
      'hale-bench-wrk {"requests":%d,"created":%d,"not_created":%d,"last_other_status":%d,'
         .. '"non_2xx_3xx":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,'
         .. '"timeouts":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"p99_9_us":%d,'
         .. '"max_us":%d,"mean_us":%.1f}\n',
      summary.requests, totals.created, totals.not_created, totals.last_other_status,
      errors.status, errors.connect, errors.read, errors.write, errors.timeout,
      summary.duration, math.floor(latency:percentile(50)),
      math.floor(latency:percentile(99)), math.floor(latency:percentile(99.9)),
      latency.max, latency.mean))
end
