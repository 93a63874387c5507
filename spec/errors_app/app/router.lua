return function(app)
  local live = app.io:of('/live')
  for _, ev in ipairs { 'bid', 'boom', 'tooLow', 'spam', 'filterBug' } do
    live:route(ev, app.io.controller.auction[ev] or app.io.controller.auction.bid)
  end
  app.router:get('/hello/:name', app.controller.home.hello)
  app.router:get('/bug', app.controller.home.bug)
  app.router:get('/forbidden', app.controller.home.forbidden)
end
