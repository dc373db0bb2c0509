from tornadopy import Url, route

url = Url("coreproj.shop.handlers")
URLS = route(url(r"item/(\d+)", "Reverse", name="SubItem"))
