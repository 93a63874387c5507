-- Services share the controller base class (egg's BaseContextClass).
return require('yolk.controller')
