-- Watching directory trees for `yolk dev`, over core.watch (one libuv
-- fs-event watcher per directory: inotify is not recursive).
--
--   local w = require('yolk.watch').tree{
--     root = baseDir, dirs = { 'app', 'config' }, files = { 'app.lua' },
--     delay = 150, on_change = function(changed) ... end }
--   w:stop()
--
-- on_change(changed) gets the sorted list of changed paths relative to root
-- ('app/io/controller/chat.lua'), once per burst: an editor's save is several
-- events (truncate, write, rename of a temporary file), so events are
-- collected until `delay` ms pass without a new one. Editor droppings (dot
-- files, foo~, *.swp, vim's 4913) are ignored, and so are files that came and
-- went within the burst (sed -i's temporary file). After each burst the set of
-- watched directories is synchronised with the disk, so directories created
-- later (or app/ and config/ themselves, through the root watch) are watched
-- too, and removed ones are dropped.
local fs = require('yolk.fs')

local M = {}

-- Names that editors write next to the real files.
function M.ignored(name)
  local base = name:match('([^/]+)$') or name
  if base:sub(1, 1) == '.' then return true end
  if base:sub(-1) == '~' then return true end
  if base:match('%.sw[a-z]$') then return true end
  if base == '4913' then return true end
  if base:match('^#.*#$') then return true end
  return false
end

local Tree = {}
Tree.__index = Tree

function M.tree(opts)
  local core = opts.core or require('yolk.core')
  local self = setmetatable({
    core = core,
    root = opts.root,
    dirs = opts.dirs or {},
    files = {},
    delay = opts.delay or 150,
    on_change = opts.on_change,
    on_error = opts.on_error,
    watches = {},  -- [relative dir] = watch
    pending = {},  -- [relative path] = true
    timer = nil,
    stopped = false,
  }, Tree)
  for _, f in ipairs(opts.files or {}) do self.files[f] = true end
  for _, d in ipairs(self.dirs) do self.files[d] = true end -- app/ created or removed
  self:sync()
  return self
end

-- The directories below rel (rel included) that exist, as relative paths,
-- and (in files) every entry seen.
local function walk(root, rel, out, files, seen)
  local real = fs.realpath(fs.join(root, rel))
  -- a symlink back up the tree must not make this endless
  if not real or seen[real] then return out end
  seen[real] = true
  local names = fs.list(real)
  if not names then return out end
  out[#out + 1] = rel
  files[rel] = true
  for _, name in ipairs(names) do
    if name:sub(1, 1) ~= '.' then
      local sub = rel .. '/' .. name
      files[sub] = true
      if fs.is_dir(fs.join(root, sub)) then walk(root, sub, out, files, seen) end
    end
  end
  return out
end

function Tree:_watch(rel)
  if self.watches[rel] then return end
  local path = rel == '' and self.root or fs.join(self.root, rel)
  local w, err = self.core.watch(path, function(name, events, werr)
    if werr then
      self.watches[rel] = nil
      self:_changed(rel)
      return
    end
    if rel == '' then
      -- the root watch only cares about the entries it was told about
      if name and self.files[name] then self:_changed(name) end
      return
    end
    if name == nil then self:_changed(rel) return end
    if M.ignored(name) then return end
    self:_changed(rel .. '/' .. name)
  end)
  if w then
    self.watches[rel] = w
  elseif self.on_error then
    self.on_error(err) -- e.g. out of inotify watches (fs.inotify.max_user_watches)
  end
end

-- Watch every directory that exists now; drop watches of vanished ones.
function Tree:sync()
  if self.stopped then return end
  local want = { [''] = true }
  local known = {}
  for f in pairs(self.files) do
    if fs.exists(fs.join(self.root, f)) then known[f] = true end
  end
  for _, d in ipairs(self.dirs) do
    for _, rel in ipairs(walk(self.root, d, {}, known, {})) do want[rel] = true end
  end
  self.known = known
  for rel, w in pairs(self.watches) do
    if not want[rel] then
      w:stop()
      self.watches[rel] = nil
    end
  end
  for rel in pairs(want) do self:_watch(rel) end
end

function Tree:count()
  local n = 0
  for _ in pairs(self.watches) do n = n + 1 end
  return n
end

function Tree:_changed(path)
  if self.stopped then return end
  self.pending[path] = true
  if self.timer then self.timer:stop() end
  self.timer = self.core.timer(self.delay, function()
    self.timer = nil
    self:_flush()
  end)
end

function Tree:_flush()
  if self.stopped then return end
  local before = self.known or {}
  self:sync()
  local list = {}
  for p in pairs(self.pending) do
    -- a file that neither existed before the burst nor exists now was a
    -- temporary one (sed -i, editors' save-by-rename): not a change
    if before[p] or self.known[p] then list[#list + 1] = p end
  end
  self.pending = {}
  table.sort(list)
  if #list > 0 and self.on_change then self.on_change(list) end
end

function Tree:stop()
  self.stopped = true
  if self.timer then self.timer:stop(); self.timer = nil end
  for rel, w in pairs(self.watches) do
    w:stop()
    self.watches[rel] = nil
  end
end

return M
