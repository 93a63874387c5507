-- app.lua
return {
  -- after the files are loaded, at start and after each reload
  didLoad = function(app)
    -- app.shared outlives reloads: keep what is already there
    app.shared.best = app.shared.best or { amount = 0 }
  end,
}
