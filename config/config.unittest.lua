-- The end-to-end tests (spec/e2e/demo*.test.mjs) start the demo with `--env unittest`:
-- a second room lets them check that messages stay inside their room.
return {
  chat = { rooms = { 'demo', 'lobby' } },
}
